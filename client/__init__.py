"""Talk to a Triton server holding tritonize models: health, repository, configs and text predictions.

The public API is imported lazily, so ``import client.<module>`` stays cheap::

    from client import TextClient
    with TextClient("localhost:8000") as triton:
        predictions = triton.predict(["I love this"], model="sentiment", top_k=2)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TextClient": "client.text_client",
    "ImageClient": "client.image_client",
    "ImageInput": "client.images",
    "Health": "client.text_client",
    "Prediction": "client.results",
    "Label": "client.results",
    "RequestPlan": "client.plan",
    "RepositoryEntry": "client.metadata",
    "ModelInterface": "client.metadata",
    "Endpoint": "client.connection",
    "ClientError": "client.errors",
    "UsageProblem": "client.errors",
    "ServerUnreachable": "client.errors",
    "RequestTimeout": "client.errors",
    "ModelNotFound": "client.errors",
    "ModelNotReady": "client.errors",
    "ServerRejected": "client.errors",
    "InputError": "client.errors",
    "UnsupportedModel": "client.errors",
    "PerfAnalyzerError": "client.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'client' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
