"""Triton Python-backend model: zero-shot classification of one text over candidate labels (BLS).

This file is copied into ``NAME_zero_shot/<version>/model.py``, beside ``tritonize_nli_zero_shot.py`` (a copy of
:mod:`tritonize.repo_format.nli_zero_shot`, which owns the tensor names and the arithmetic). Per request it builds
one (text, hypothesis) pair per label, sends them to the pair ensemble (``pair_model``: tokenizer and NLI
classifier) in batches of at most ``pair_batch_size``, and reduces the logits as transformers' zero-shot pipeline
does. A bad request gets its own INVALID_ARG error; the other requests of the batch are answered.
"""

from __future__ import annotations

import json

import numpy as np

try:  # Present only inside Triton's Python backend.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - imported from the source tree
    pb_utils = None

try:  # Beside this file in the served version folder.
    import tritonize_nli_zero_shot as zero_shot
except ImportError:  # pragma: no cover - imported from the source tree
    from tritonize.repo_format import nli_zero_shot as zero_shot


class TritonPythonModel:
    """The zero-shot model clients call: text, labels, template and multi-label flag in; labels and scores out."""

    def initialize(self, args: dict) -> None:
        """Read the pair ensemble's name, the entailment class and the pair batch size from the config."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.pair_model = parameters[zero_shot.PAIR_MODEL_KEY]
        self.entailment_id = int(parameters[zero_shot.ENTAILMENT_ID_KEY])
        self.pair_batch = max(1, int(parameters[zero_shot.PAIR_BATCH_KEY]))

    def execute(self, requests: list) -> list:
        """Answer each request on its own: its pairs through the pair ensemble, then the pipeline's reduction."""
        responses = []
        for request in requests:
            try:
                labels, label_scores = self._classify(request)
            except zero_shot.ZeroShotError as error:
                invalid = pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(error=invalid))
                continue
            except RuntimeError as error:  # the pair ensemble's own error, passed on
                responses.append(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error))))
                continue
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor(zero_shot.LABELS_OUTPUT, np.array([s.encode() for s in labels], dtype=np.object_)),
                pb_utils.Tensor(zero_shot.SCORES_OUTPUT, label_scores.astype(np.float32)),
            ]))
        return responses

    def _classify(self, request: object) -> tuple[list[str], np.ndarray]:
        texts = zero_shot.decode(_input(request, zero_shot.TEXT_INPUT), zero_shot.TEXT_INPUT)
        if len(texts) != 1 or not texts[0].strip():
            raise zero_shot.ZeroShotError(f"{zero_shot.TEXT_INPUT} must be one non-empty text")
        labels = zero_shot.decode(_input(request, zero_shot.LABELS_INPUT), zero_shot.LABELS_INPUT)
        template = zero_shot.decode(_input(request, zero_shot.TEMPLATE_INPUT), zero_shot.TEMPLATE_INPUT)
        flag = _input(request, zero_shot.MULTI_LABEL_INPUT)
        multi_label = bool(flag is not None and np.asarray(flag).reshape(-1)[:1].any())
        made = zero_shot.hypotheses(labels, template[0] if template else zero_shot.DEFAULT_TEMPLATE)
        logits = np.concatenate([self._pair_logits(texts[0], made[start:start + self.pair_batch])
                                 for start in range(0, len(made), self.pair_batch)])
        return zero_shot.ranked(labels, zero_shot.scores(logits, self.entailment_id, multi_label))

    def _pair_logits(self, text: str, hypotheses: list[str]) -> np.ndarray:
        count = len(hypotheses)
        query = np.array([[text.encode()]] * count, dtype=np.object_)
        passage = np.array([[h.encode()] for h in hypotheses], dtype=np.object_)
        response = pb_utils.InferenceRequest(
            model_name=self.pair_model, requested_output_names=[zero_shot.PAIR_LOGITS],
            inputs=[pb_utils.Tensor(zero_shot.PAIR_INPUTS[0], query),
                    pb_utils.Tensor(zero_shot.PAIR_INPUTS[1], passage)],
        ).exec()
        if response.has_error():
            raise RuntimeError(response.error().message())
        return pb_utils.get_output_tensor_by_name(response, zero_shot.PAIR_LOGITS).as_numpy()


def _input(request: object, name: str) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()
