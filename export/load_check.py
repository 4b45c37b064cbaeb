"""Load check: the staged models in the real local Triton, the verification texts through the staged ensemble.

Before an export swaps its models into the repository, the staged folders are served by the Triton 2.51 that
``python -m server`` runs (:class:`server.local.LocalTriton`) and each verification batch is sent to the ensemble
over HTTP with plain ``tritonclient``. That proves what the other checks cannot: Triton accepts every
``config.pbtxt`` (dims, data types, ensemble maps, label files), the Python-backend models start, and the
ensemble answers the texts as PyTorch does (compared like every other row of the verification table). The
artifacts run in the local server's adapters (ONNX Runtime / torch.jit of this machine); the runtimes of the
target release are checked by :mod:`export.release_check`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.errors import ExportFailedError, VerificationError
from export.signature import Task
from export.tasks.rerank import verification_pairs
from export.verify import VERIFICATION_BATCHES, VERIFICATION_TEXTS
from tritonize.repo_format.tokenizer_encoding import PAIR_INPUTS, TEXT_INPUT

#: Prefix of the verification row of the served ensemble (``served@triton-2.51``).
SERVED_ROW = "served@triton-"
#: Seconds Triton may take to load the staged models.
READY_TIMEOUT_S = 180.0
#: The option that skips the check.
SKIP_OPTION = "--skip-load-check"


@dataclass(frozen=True)
class LoadCheck:
    """What the load check did, for the export summary.

    Attributes:
        ran: The staged models were loaded and queried.
        seconds: Wall time of the check (start, requests, stop).
        note: The Triton version it ran in, or why it was skipped.
    """

    ran: bool
    seconds: float = 0.0
    note: str = ""

    def describe(self) -> str:
        """One line for the summary."""
        if not self.ran:
            return f"Load check skipped: {self.note}"
        return (f"Load check: Triton {self.note} loaded the staged models and answered the verification texts "
                f"through the model clients call ({self.seconds:.1f} s)")


@dataclass(frozen=True)
class Served:
    """The ensemble's answers to the verification batches.

    Attributes:
        version: Triton's version (``2.51.0``).
        outputs: Per verification batch, the requested outputs in order.
        seconds: Wall time of start, requests and stop.
    """

    version: str
    outputs: list[list[np.ndarray]]
    seconds: float

    @property
    def row(self) -> str:
        """The verification row's name: ``served@triton-MAJOR.MINOR``."""
        return SERVED_ROW + ".".join(self.version.split(".")[:2])


def verification_requests(task: Task) -> list[dict[str, list[str]]]:
    """One request per verification batch: the ensemble's text inputs → the batch's texts (or pairs)."""
    if task is Task.TEXT_RANKING:
        pairs = verification_pairs()
        return [{PAIR_INPUTS[0]: [pairs[i][0] for i in batch], PAIR_INPUTS[1]: [pairs[i][1] for i in batch]}
                for batch in VERIFICATION_BATCHES]
    return [{TEXT_INPUT: [VERIFICATION_TEXTS[i] for i in batch]} for batch in VERIFICATION_BATCHES]


@dataclass(frozen=True)
class Skipped:
    """The load check could not run: no local Triton here.

    Attributes:
        reason: Why, in one line.
    """

    reason: str


def serve_staged(staged: Path, ensemble: str, requests: list[dict[str, list[str]]] | list[dict[str, list[bytes]]],
                 output_names: list[str]) -> Served | Skipped:
    """Serve ``staged`` in the local Triton and send ``requests`` to ``ensemble`` (skipped without a local Triton).

    Raises:
        VerificationError: Triton refuses a model (its own reason, in one line) or the ensemble fails a request.
        ExportFailedError: The local server cannot start for another reason (a port, a timeout).
    """
    from server.errors import BundleError, ModelLoadError, ServerError
    from server.local import LocalTriton

    began = time.perf_counter()
    server = LocalTriton(staged, model_control_mode="none", heal=False, ready_timeout=READY_TIMEOUT_S)
    try:
        server.start()
    except BundleError as error:
        return Skipped(str(error).splitlines()[0])
    except ModelLoadError as error:
        raise VerificationError(f"Triton refuses the exported models: {'; '.join(error.failures)}. "
                                f"Nothing was written (pass {SKIP_OPTION} to export without this check).") from error
    except ServerError as error:
        reason = str(error).splitlines()[0]
        raise ExportFailedError(f"The local Triton could not start to load the exported models: {reason} "
                                f"Nothing was written (pass {SKIP_OPTION} to export without this check).") from error
    try:
        version, outputs = _query(server.http_url, ensemble, requests, output_names)
    finally:
        server.stop()
    return Served(version, outputs, time.perf_counter() - began)


def _query(url: str, ensemble: str, requests: list[dict[str, list[str]]],
           output_names: list[str]) -> tuple[str, list[list[np.ndarray]]]:
    """Triton's version and the ensemble's outputs for each request, over HTTP."""
    import tritonclient.http as http
    from tritonclient.utils import InferenceServerException

    client = http.InferenceServerClient(url)
    try:
        version = str(client.get_server_metadata().get("version", "?"))
        shapes = {spec["name"]: spec["shape"] for spec in client.get_model_metadata(ensemble)["inputs"]}
        answers = []
        for index, request in enumerate(requests):
            inputs = []
            for name, texts in request.items():
                shape = [len(texts), *shapes[name][1:]]
                tensor = http.InferInput(name, shape, "BYTES")
                items = [t if isinstance(t, bytes) else t.encode() for t in texts]  # texts, or encoded images
                tensor.set_data_from_numpy(np.array(items, dtype=object).reshape(shape))
                inputs.append(tensor)
            try:
                result = client.infer(ensemble, inputs,
                                      outputs=[http.InferRequestedOutput(name) for name in output_names])
            except InferenceServerException as error:
                raise VerificationError(
                    f"Triton loaded the exported models, but the ensemble '{ensemble}' failed on verification "
                    f"batch {index}: {str(error).splitlines()[0]}. Nothing was written.") from error
            answers.append([result.as_numpy(name) for name in output_names])
    finally:
        client.close()
    return version, answers
