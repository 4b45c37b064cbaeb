"""Optional bearer-token authentication: keys from an environment variable or a mounted file."""

from __future__ import annotations

import hmac

from gateway.errors import Unauthorized

BEARER = "bearer "


def check_bearer(authorization: str | None, keys: tuple[str, ...]) -> None:
    """Accept the request when no keys are configured, or when it carries one of them as a bearer token.

    Every key is compared in constant time, so the answer's timing does not tell how much of a key matched.

    Raises:
        Unauthorized: Keys are configured and the header is missing, not a bearer token, or no key.
    """
    if not keys:
        return
    if not authorization or not authorization.lower().startswith(BEARER):
        raise Unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'")
    token = authorization[len(BEARER):].strip().encode()
    if not any(hmac.compare_digest(token, key.encode()) for key in keys):  # noqa: SIM110 - every key is compared
        raise Unauthorized("Incorrect API key")
