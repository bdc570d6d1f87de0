"""Request and response shapes of the customers domain."""

from __future__ import annotations

from pydantic import EmailStr, Field

from tickettoken.kit.schema_types import RequestModel


class CustomerDetails(RequestModel):
    """Who buys: creates or finds the venue's customer by email."""

    email: EmailStr
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=50, pattern=r"^[0-9+() .-]{3,50}$")
