"""Triton Python-backend model: per-token vectors → the kept ones of each text, packed, last step of multi-vector.

This file is copied into ``NAME_vectors/<version>/model.py`` (and ``NAME_query_vectors``) beside
``tritonize_multi_vector.py`` (a copy of :mod:`tritonize.repo_format.multi_vector`, which owns the rule and the
wire format). ``keep`` (config parameter) says which positions: ``all`` (queries with expansion) or
``attended`` (documents: attended tokens not in ``skiplist_ids``). Each text's kept vectors go out as one BYTES
item with their count, so no padding crosses the wire.
"""

from __future__ import annotations

import json

import numpy as np

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_multi_vector as multi_vector
except ImportError:  # pragma: no cover - imported from the source tree
    from tritonize.repo_format import multi_vector


class TritonPythonModel:
    """Keeps and packs each text's token vectors."""

    def initialize(self, args: dict) -> None:
        """Read which positions to keep and the skip-list token ids from the config."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.keep = parameters[multi_vector.KEEP_KEY]
        self.skiplist = frozenset(int(i) for i in json.loads(parameters.get(multi_vector.SKIPLIST_KEY) or "[]"))
        self.unused = frozenset(int(i) for i in json.loads(parameters.get(multi_vector.UNUSED_KEY) or "[]"))
        self.lexical = any(item["name"] == multi_vector.TOKEN_WEIGHTS for item in config["input"])

    def execute(self, requests: list) -> list:
        """Pack each request's texts."""
        responses = []
        for request in requests:
            ids, mask, vectors = (pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                                  for name in ("input_ids", "attention_mask", multi_vector.TOKEN_VECTORS))
            items, counts, lexical = [], [], []
            weights = (pb_utils.get_input_tensor_by_name(request, multi_vector.TOKEN_WEIGHTS).as_numpy()
                       if self.lexical else None)
            for row in range(ids.shape[0]):
                kept = multi_vector.kept_positions(ids[row], mask[row], self.keep, self.skiplist)
                items.append([multi_vector.pack(vectors[row][kept])])
                counts.append([int(kept.sum())])
                if weights is not None:
                    found = multi_vector.lexical_weights(ids[row], weights[row], self.unused)
                    lexical.append([json.dumps(found).encode()])
            tensors = [pb_utils.Tensor(multi_vector.VECTORS_OUTPUT, np.array(items, dtype=np.object_)),
                       pb_utils.Tensor(multi_vector.COUNTS_OUTPUT, np.array(counts, dtype=np.int64))]
            if weights is not None:
                tensors.append(pb_utils.Tensor(multi_vector.LEXICAL_OUTPUT, np.array(lexical, dtype=np.object_)))
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses
