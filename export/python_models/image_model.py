"""Triton Python-backend model: encoded image bytes in, the model's ``pixel_values`` out.

This file is copied into ``NAME_preprocess/<version>/model.py``, beside ``tritonize_image.py`` (a copy of
:mod:`tritonize.repo_format.image_preprocessing`, which owns the decode rules, the pixel arithmetic and the
parameter keys). It runs on the container's Python and imports only numpy, Pillow and that file. Tensor names
and dtypes come from ``args["model_config"]``, the processor's settings from its parameters.

A request with an item that is not an image this step reads (empty, corrupt, over the pixel limit, a mode
with no RGB conversion) gets an INVALID_ARG error naming the item; the other requests of the batch are
answered as usual.
"""

from __future__ import annotations

import json

import numpy as np

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_image as images
except ImportError:  # pragma: no cover - imported from the source tree
    from tritonize.repo_format import image_preprocessing as images


class TritonPythonModel:
    """The preprocessing model that the image ensemble calls first."""

    def initialize(self, args: dict) -> None:
        """Read the processor's settings and the output's dtype from the model config."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.parameters = images.ImageParameters.from_strings(parameters)
        self.input_name = config["input"][0]["name"]
        output = config["output"][0]
        self.output_name = output["name"]
        self.dtype = pb_utils.triton_string_to_numpy(output["data_type"])

    def execute(self, requests: list) -> list:
        """Decode and preprocess every image of every request; a bad item fails only its own request."""
        responses = []
        for request in requests:
            items = images.decode_items(pb_utils.get_input_tensor_by_name(request, self.input_name).as_numpy())
            try:
                arrays = [self._one(index, len(items), data) for index, data in enumerate(items)]
            except images.ImageError as error:
                # INVALID_ARG: the caller's mistake, HTTP 400 / gRPC INVALID_ARGUMENT.
                invalid = pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(error=invalid))
                continue
            tensor = pb_utils.Tensor(self.output_name, np.stack(arrays).astype(self.dtype, copy=False))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
        return responses

    def _one(self, index: int, count: int, data: bytes) -> np.ndarray:
        try:
            return images.preprocess(data, self.parameters)
        except images.ImageError as error:
            raise images.ImageError(f"{self.input_name}[{index}] of {count}: {error}") from None
