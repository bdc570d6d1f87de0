"""Money arithmetic every service shares: ``Decimal`` amounts quantized to cents (half up), and
the whole cents money jobs and providers carry."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: Decimal | int | str) -> Decimal:
    """An amount in currency units, rounded to the cent."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(amount: Decimal) -> int:
    """A stored money amount as the whole cents money jobs carry (``amount_cents``)."""
    return int((amount * 100).to_integral_value())
