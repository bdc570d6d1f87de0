"""Pricing rules: business rules for their CRUD, and the price quote every caller shares."""

from __future__ import annotations

from tickettoken.events.pricing.quotes import PriceQuote, quote_price

__all__ = ["PriceQuote", "quote_price"]
