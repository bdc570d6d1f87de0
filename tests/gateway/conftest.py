"""Every gateway test reads and writes service registrations in a namespace of its own, so that
service processes of other test runs registering on the shared Redis never join its pools."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def private_registry_namespace(monkeypatch: pytest.MonkeyPatch) -> str:
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("SERVICE_REGISTRY_NAMESPACE", namespace)
    return namespace
