"""The tritonserver command-line flags, defined once for the local server and the Docker image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tritonize.admin_key import API_KEY_ENV, API_KEY_HEADER, RESTRICTED_APIS
from tritonize.contract import CONTAINER_REPOSITORY

ModelControlMode = Literal["none", "poll", "explicit"]
LogFormat = Literal["default", "ISO8601"]

__all__ = ["API_KEY_ENV", "API_KEY_HEADER", "RESTRICTED_APIS", "ServerFlags", "container_flags", "docker_cmd",
           "restricted_args"]

#: The key as Kubernetes passes it to ``args`` (expanded from the container's environment, i.e. the secret).
KEY_FROM_KUBERNETES_ENV = f"$({API_KEY_ENV})"


@dataclass(frozen=True)
class ServerFlags:
    """Settings that both `python -m server` and the Docker image pass to `tritonserver`.

    Attributes:
        model_repository: Path of the model repository as the server sees it.
        http_port: HTTP/REST port (KServe v2 protocol).
        grpc_port: gRPC port.
        metrics_port: Prometheus metrics port.
        model_control_mode: ``none`` loads everything once, ``poll`` picks up new versions, ``explicit`` loads
            on request.
        repository_poll_secs: How often ``poll`` mode rescans the repository.
        strict_readiness: ``/v2/health/ready`` reports ready only when every model is ready.
        exit_on_error: Exit when a model fails to load instead of serving the rest.
        strict_model_config: Disable config auto-complete: configs are served exactly as written.
        log_format: Triton's log line format.
        log_verbose: Triton's verbose log level (0 = off).
        load_models: Models ``explicit`` mode loads at start (``*``: all of them, as ``none`` mode does, while
            the repository API can still reload a model whose stub process died).
        address: Interface HTTP, gRPC and metrics listen on (``127.0.0.1`` locally, ``0.0.0.0`` in a container).
        api_key: Key that :data:`RESTRICTED_APIS` require in the :data:`API_KEY_HEADER` header; ``None`` leaves
            them open.
    """

    model_repository: str = CONTAINER_REPOSITORY
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    model_control_mode: ModelControlMode = "none"
    repository_poll_secs: int = 5
    strict_readiness: bool = True
    exit_on_error: bool = True
    strict_model_config: bool = True
    log_format: LogFormat = "default"
    log_verbose: int = 0
    load_models: tuple[str, ...] = ()
    address: str = "0.0.0.0"
    api_key: str | None = None

    def to_args(self) -> list[str]:
        """Render the flags as tritonserver arguments (without the executable)."""
        args = [
            f"--model-repository={self.model_repository}",
            f"--http-address={self.address}",
            f"--grpc-address={self.address}",
            f"--metrics-address={self.address}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-metrics=true",
            f"--model-control-mode={self.model_control_mode}",
            f"--strict-readiness={_bool(self.strict_readiness)}",
            f"--exit-on-error={_bool(self.exit_on_error)}",
            f"--log-format={self.log_format}",
            f"--log-verbose={self.log_verbose}",
        ]
        if self.model_control_mode == "poll":
            args.append(f"--repository-poll-secs={self.repository_poll_secs}")
        args += [f"--load-model={name}" for name in self.load_models]
        if self.strict_model_config:
            args.append("--disable-auto-complete-config")
        if self.api_key is not None:
            args += restricted_args(self.api_key)
        return args


def container_flags(**changes: object) -> ServerFlags:
    """The flags of the Docker image, the Helm chart and the KServe runtime: every interface, admin APIs keyed."""
    return ServerFlags(**{"api_key": KEY_FROM_KUBERNETES_ENV, **changes})


def docker_cmd() -> list[str]:
    """The image's CMD: :func:`container_flags` through ``sh``, which puts the key in from the environment.

    Without ``TRITONIZE_API_KEY`` the container refuses to start rather than leave the admin APIs open.
    """
    args = " ".join(f"'{a}'" for a in ["tritonserver", *container_flags().to_args()])
    needed = f"${{{API_KEY_ENV}:?set {API_KEY_ENV} (the admin API key, docs/security.md)}}"
    return ["/bin/sh", "-c", "exec " + args.replace(KEY_FROM_KUBERNETES_ENV, f"'\"{needed}\"'")]


def restricted_args(key: str) -> list[str]:
    """Triton's flags that restrict :data:`RESTRICTED_APIS` to requests carrying ``key`` (HTTP and gRPC)."""
    groups = ",".join(RESTRICTED_APIS)
    return [f"--http-restricted-api={groups}:{API_KEY_HEADER}={key}",
            f"--grpc-restricted-protocol={groups}:{API_KEY_HEADER}={key}"]


def _bool(value: bool) -> str:
    return "true" if value else "false"
