"""Fixtures shared by the integration tests that ask a module's own ``triton`` server over both protocols."""

from __future__ import annotations

import pytest

from client import TextClient
from server.local import LocalTriton


@pytest.fixture(params=["http", "grpc"])
def protocol(request: pytest.FixtureRequest) -> str:
    """Each test runs once over HTTP and once over gRPC."""
    return request.param


@pytest.fixture
def text_client(triton: LocalTriton, protocol: str):
    """A TextClient on the requesting module's ``triton`` fixture, over ``protocol``."""
    with TextClient(triton.http_url if protocol == "http" else triton.grpc_url, protocol) as connected:
        yield connected
