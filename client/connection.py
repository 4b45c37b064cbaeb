"""One connection to Triton over HTTP or gRPC, with retries, behind one interface that raises domain errors."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import numpy as np
from google.protobuf import json_format
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.utils import InferenceServerException

from client.errors import ModelNotFound, RequestTimeout, ServerRejected, ServerUnreachable, UsageProblem
from tritonize.admin_key import API_KEY_ENV, key_headers

Protocol = Literal["http", "grpc"]
PROTOCOLS: tuple[str, ...] = ("http", "grpc")

#: Port Triton listens on by default, per protocol.
DEFAULT_PORTS = {"http": 8000, "grpc": 8001}
DEFAULT_TIMEOUT_S = 60.0
#: Enough to ride over a model reload (a dead stub) and a few overload refusals: 0.25 + 0.5 + 1 + 2 s.
DEFAULT_RETRIES = 4
#: First wait between retries; each further retry waits twice as long, plus up to half again at random (so
#: that clients refused together do not come back together).
RETRY_BACKOFF_S = 0.25
#: Triton 2.51's answer from a model instance whose Python-backend stub died: another instance, or the same
#: model once reloaded (``python -m server`` reloads it), answers a retry.
DEAD_STUB_HINTS = ("Stub process", "is not healthy")
#: Longest wait between two retries.
RETRY_CAP_S = 2.0
#: A server's refusal for overload (a full queue, a queue timeout), per protocol.
_OVERLOADED = ("503", "StatusCode.UNAVAILABLE")

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    """Where Triton listens and how to talk to it.

    Attributes:
        address: ``host:port`` without scheme.
        protocol: ``http`` or ``grpc``.
        ssl: Use TLS (an ``https://`` or ``grpcs://`` URL).
        timeout: Seconds to wait for a connection and for each answer.
        retries: Extra attempts after a connection error, a 503/UNAVAILABLE answer (a full queue) or a dead
            stub process, with exponential backoff; overload refusals are retried on within ``timeout``.
        api_key: Key of the server's administrative APIs (:mod:`tritonize.admin_key`), sent with every request.
    """

    address: str
    protocol: Protocol = "http"
    ssl: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str | None = None, protocol: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
              retries: int = DEFAULT_RETRIES, api_key: str | None = None) -> Endpoint:
        """Build from a URL such as ``localhost:8000``, ``http://host:8000`` or ``grpc://host:8001``.

        Args:
            url: Server address; a scheme may name the protocol. ``None`` means localhost on the default port.
            protocol: ``http`` or ``grpc``; ``None`` takes the URL's scheme, else ``http``.
            timeout: Seconds to wait for a connection and for each answer.
            retries: Extra attempts for connection errors and 503/UNAVAILABLE answers.
            api_key: Key of the administrative APIs, sent as a header.

        Raises:
            UsageProblem: An unknown scheme or protocol, a scheme that contradicts ``protocol``, or an address
                that is not ``HOST:PORT``.
        """
        if protocol is not None and protocol not in PROTOCOLS:
            raise UsageProblem(f"Unknown protocol '{protocol}'; use one of: {', '.join(PROTOCOLS)}")
        scheme, _, rest = (url or "").rpartition("://")
        schemes = {"http": ("http", False), "https": ("http", True), "grpc": ("grpc", False),
                   "grpcs": ("grpc", True), "": (protocol or "http", False)}
        if scheme.lower() not in schemes:
            raise UsageProblem(f"Unknown URL scheme '{scheme}://' in '{url}'; use http://, https:// or grpc://")
        implied, ssl = schemes[scheme.lower()]
        if protocol is not None and implied != protocol:
            raise UsageProblem(f"URL '{url}' is a {implied} URL but the protocol is {protocol}")
        chosen: Protocol = implied  # type: ignore[assignment]
        address = rest.rstrip("/") or f"localhost:{DEFAULT_PORTS[chosen]}"
        if ":" not in address.rsplit("]", 1)[-1]:
            address = f"{address}:{DEFAULT_PORTS[chosen]}"
        host, _, port = address.rpartition(":")
        if not host or "/" in address or not port.isdigit() or not 0 < int(port) < 65536:
            raise UsageProblem(f"Invalid URL '{url}': use HOST:PORT with a port from 1 to 65535, optionally with "
                               f"http://, https:// or grpc:// (e.g. localhost:8000)")
        if timeout <= 0:
            raise UsageProblem(f"Timeout must be positive, not {timeout:g}")
        return cls(address=address, protocol=chosen, ssl=ssl, timeout=timeout, retries=max(0, retries),
                   api_key=api_key or None)

    @property
    def url(self) -> str:
        """The address with its scheme, as messages show it."""
        scheme = {("http", False): "http", ("http", True): "https", ("grpc", False): "grpc",
                  ("grpc", True): "grpcs"}[(self.protocol, self.ssl)]
        return f"{scheme}://{self.address}"


@dataclass(frozen=True)
class RequestedOutput:
    """An output to ask for; ``class_count > 0`` asks for it through Triton's classification extension."""

    name: str
    class_count: int = 0


class Connection:
    """A client for one thread (tritonclient's clients are not thread-safe): one per worker thread.

    Every method raises :class:`~client.errors.ClientError` subclasses, never tritonclient's exceptions.
    """

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        if endpoint.protocol == "grpc":
            import tritonclient.grpc as module

            self._module: Any = module
            self._client: Any = module.InferenceServerClient(endpoint.address, ssl=endpoint.ssl)
            self._call_options: dict[str, Any] = {"client_timeout": endpoint.timeout}
        else:
            import tritonclient.http as module

            self._module = module
            self._client = module.InferenceServerClient(
                endpoint.address, ssl=endpoint.ssl, connection_timeout=endpoint.timeout,
                network_timeout=endpoint.timeout,
            )
            self._call_options = {}
        headers = key_headers(endpoint.api_key, endpoint.protocol)
        if headers:
            self._call_options["headers"] = headers

    def close(self) -> None:
        """Close the underlying client."""
        self._client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def live(self) -> bool:
        """Whether the server answers its liveness check."""
        return bool(self._call(lambda: self._client.is_server_live(**self._call_options)))

    def ready(self) -> bool:
        """Whether the server is ready for inference (with strict readiness: all its models are)."""
        return bool(self._call(lambda: self._client.is_server_ready(**self._call_options)))

    def model_ready(self, name: str) -> bool:
        """Whether model ``name`` is loaded and ready."""
        return bool(self._call(lambda: self._client.is_model_ready(name, **self._call_options)))

    def repository_index(self) -> list[dict[str, str]]:
        """Every model in the repository: ``name``, and ``version``, ``state``, ``reason`` once Triton tried it."""
        if self.endpoint.protocol == "grpc":
            answer = self._call(lambda: self._client.get_model_repository_index(as_json=True, **self._call_options))
            return list(answer.get("models", []))
        return list(self._call(lambda: self._client.get_model_repository_index(**self._call_options)))

    def model_config_json(self, name: str) -> dict[str, Any]:
        """Model ``name``'s config as the protocol carries it (HTTP: Triton's JSON; gRPC: the protobuf as JSON)."""
        if self.endpoint.protocol == "grpc":
            answer = self._call(lambda: self._client.get_model_config(name, as_json=True, **self._call_options), name)
            return dict(answer.get("config", {}))
        return dict(self._call(lambda: self._client.get_model_config(name, **self._call_options), name))

    def model_config(self, name: str) -> mc.ModelConfig:
        """Model ``name``'s config as a ``ModelConfig`` protobuf, whatever the protocol."""
        if self.endpoint.protocol == "grpc":
            return self._call(lambda: self._client.get_model_config(name, **self._call_options), name).config
        return json_format.ParseDict(self.model_config_json(name), mc.ModelConfig(), ignore_unknown_fields=True)

    def model_metadata(self, name: str) -> dict[str, Any]:
        """Model ``name``'s metadata in the HTTP form: ``name``, ``versions``, ``platform``, ``inputs``, ``outputs``."""
        if self.endpoint.protocol == "grpc":
            answer = self._call(lambda: self._client.get_model_metadata(name, **self._call_options), name)
            tensors = lambda items: [  # noqa: E731
                {"name": t.name, "datatype": t.datatype, "shape": [int(d) for d in t.shape]} for t in items
            ]
            return {"name": answer.name, "versions": list(answer.versions), "platform": answer.platform,
                    "inputs": tensors(answer.inputs), "outputs": tensors(answer.outputs)}
        return dict(self._call(lambda: self._client.get_model_metadata(name), name))

    def inference_statistics(self, name: str) -> list[dict[str, Any]]:
        """Triton's cumulative statistics of model ``name``: one ``model_stats`` entry per loaded version."""
        if self.endpoint.protocol == "grpc":
            answer = self._call(lambda: self._client.get_inference_statistics(
                model_name=name, as_json=True, **self._call_options), name)
        else:
            answer = self._call(lambda: self._client.get_inference_statistics(model_name=name, **self._call_options),
                                name)
        return list(answer.get("model_stats", []))

    def infer(self, model: str, inputs: Sequence[tuple[str, str, np.ndarray]],
              outputs: Sequence[RequestedOutput]) -> dict[str, np.ndarray]:
        """Run one inference request.

        Args:
            model: The model to call.
            inputs: ``(name, Triton datatype, array)`` for each input, batch dimension first.
            outputs: The outputs to return.

        Returns:
            Each requested output's array, by name.
        """
        def send() -> dict[str, np.ndarray]:
            tensors = []
            for name, datatype, array in inputs:
                tensor = self._module.InferInput(name, list(array.shape), datatype)
                tensor.set_data_from_numpy(array)
                tensors.append(tensor)
            requested = [self._module.InferRequestedOutput(o.name, class_count=o.class_count) for o in outputs]
            result = self._client.infer(model, tensors, outputs=requested, **self._call_options)
            return {o.name: result.as_numpy(o.name) for o in outputs}

        return self._call(send, model)

    def _call(self, request: Callable[[], T], model: str | None = None) -> T:
        """Send ``request``, retrying connection errors, 503/UNAVAILABLE and dead stubs with exponential backoff.

        A refusal for overload (503/UNAVAILABLE from the server) is retried beyond ``retries``, as long as the
        next attempt starts within ``timeout`` seconds of the first: a full queue drains, and every text still
        gets its answer. ``retries=0`` never retries.
        """
        attempt, began = 0, time.monotonic()
        while True:
            try:
                return request()
            except Exception as error:  # noqa: BLE001 - translated below; anything unknown is re-raised
                translated, retryable = _translate(error, self.endpoint, model)
                if translated is None:
                    raise
                wait = min(RETRY_BACKOFF_S * 2**attempt, RETRY_CAP_S) * (1 + random.random() / 2)
                refused = isinstance(translated, ServerRejected) and translated.status in _OVERLOADED
                in_time = time.monotonic() + wait - began < self.endpoint.timeout
                within = refused and self.endpoint.retries > 0 and in_time
                if not retryable or (attempt >= self.endpoint.retries and not within):
                    raise translated from error
            time.sleep(wait)
            attempt += 1


def _translate(error: Exception, endpoint: Endpoint, model: str | None) -> tuple[Exception | None, bool]:
    """The domain error for a tritonclient or socket error, and whether it is worth retrying."""
    if isinstance(error, (TimeoutError, socket.timeout)) or type(error).__name__ == "Timeout":
        return RequestTimeout(f"Triton at {endpoint.url} did not answer within {endpoint.timeout:g} s"), False
    if isinstance(error, socket.gaierror):
        return ServerUnreachable(f"Cannot reach Triton at {endpoint.url}: unknown host"), True
    if isinstance(error, ConnectionRefusedError):
        return ServerUnreachable(f"Cannot reach Triton at {endpoint.url}: connection refused"), True
    if isinstance(error, (ConnectionError, OSError)):
        reason = error.strerror or str(error) or type(error).__name__
        return ServerUnreachable(f"Cannot reach Triton at {endpoint.url}: {reason.lower()}"), True
    if type(error).__name__ == "HTTPParseError":
        return ServerUnreachable(
            f"Cannot talk to Triton at {endpoint.url}: the answer is not HTTP (a gRPC port? add --protocol grpc)"
        ), False
    if not isinstance(error, InferenceServerException):
        return None, False
    status = str(error.status() or "")
    message = error.message() or ""
    if status in ("StatusCode.UNAVAILABLE", "StatusCode.UNKNOWN") and _is_connection_failure(message):
        return ServerUnreachable(f"Cannot reach Triton at {endpoint.url}: {_connection_reason(message)}"), True
    if status == "StatusCode.DEADLINE_EXCEEDED":
        return RequestTimeout(f"Triton at {endpoint.url} did not answer within {endpoint.timeout:g} s"), False
    if status in ("404", "StatusCode.NOT_FOUND") and model is not None:
        return ModelNotFound(f"Model '{model}' not found on Triton at {endpoint.url}"), False
    if "is restricted, expecting header" in message:  # Triton's refusal of a keyed API group (gRPC: UNAVAILABLE)
        return ServerRejected(f"{message}: pass the server's key with --api-key or {API_KEY_ENV}", status=status), False
    retryable = status in _OVERLOADED or all(hint in message for hint in DEAD_STUB_HINTS)
    return ServerRejected(message, status=status), retryable


def _is_connection_failure(message: str) -> bool:
    lowered = message.lower()
    return any(hint in lowered for hint in ("failed to connect", "connection refused", "dns resolution failed",
                                            "connection reset", "socket closed", "name resolution"))


def _connection_reason(message: str) -> str:
    lowered = message.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "dns resolution failed" in lowered or "name resolution" in lowered:
        return "unknown host"
    if "connection reset" in lowered or "socket closed" in lowered:
        return "connection reset"
    return message
