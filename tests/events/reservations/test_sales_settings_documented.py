"""The sales side's own settings (``SalesSettings``) are documented where operators look:
``.env.example`` lists each with its default, the README explains the payment grace."""

from __future__ import annotations

import re
from pathlib import Path

from tickettoken.events.reservations.settings import SalesSettings

ROOT = Path(__file__).resolve().parents[3]


def test_env_example_lists_every_sales_setting_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = dict(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))
    for name, field in SalesSettings.model_fields.items():
        assert documented.get(name.upper()) == field.default, name.upper()


def test_readme_explains_the_payment_grace_after_a_hold_expires() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "RESERVATION_PAYMENT_GRACE" in readme
    assert "RESERVATION_HOLD" in readme and "RESERVATION_SWEEP_INTERVAL" in readme
