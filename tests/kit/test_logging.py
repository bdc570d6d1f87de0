"""Structured logs: JSON lines with the request id, secrets redacted."""

from __future__ import annotations

import json

import pytest
import structlog

from tickettoken.kit.logging import configure_logging
from tickettoken.kit.request_context import set_request_id


def test_log_lines_are_json_with_request_id_and_no_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json", service="test")
    set_request_id("req-77")
    try:
        structlog.get_logger("t").info(
            "charged",
            access_token="tok_live_123",
            amount_cents=500,
            client_secret="cs_1",
            authorization="Bearer x",
        )
    finally:
        set_request_id(None)
        structlog.contextvars.clear_contextvars()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "charged"
    assert record["request_id"] == "req-77"
    assert record["amount_cents"] == 500
    assert "tok_live_123" not in line and "cs_1" not in line and "Bearer x" not in line
    assert record["access_token"] == "[REDACTED]"
