"""Errors the gateway answers with, each in OpenAI's error shape ``{"error": {message, type, param, code}}``."""

from __future__ import annotations

from typing import Any

from tritonize.errors import TritonizeError


class GatewayError(TritonizeError):
    """An answer other than success: an HTTP status and OpenAI's error fields.

    Attributes:
        status: HTTP status code.
        type: OpenAI's error ``type``.
        code: OpenAI's error ``code`` (a short machine-readable reason).
        param: The request field at fault, if one is.
    """

    status = 500
    type = "server_error"
    code = "internal_error"

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return error_body(self.message, self.type, self.param, self.code)


class BadRequest(GatewayError):
    """The request is malformed or asks for something the model cannot do (400)."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_value"


class Unauthorized(GatewayError):
    """No or a wrong API key (401)."""

    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class ModelNotFound(GatewayError):
    """No served model of that name (404)."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class Unavailable(GatewayError):
    """Triton is down, not ready, or refuses for overload (503)."""

    status = 503
    type = "server_error"
    code = "service_unavailable"


class UpstreamError(GatewayError):
    """Triton failed the request for a reason the caller cannot fix (502)."""

    status = 502
    type = "server_error"
    code = "upstream_error"


def error_body(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
