"""Request bodies and answers of the connection routes.

Bodies accept the original platform's names too (``venueId``, ``apiKey``, ``apiSecret``,
``credentials: {apiKey, apiSecret}``). Answers never hold a token, key or secret: a connection
shows its status, how it is authorised and the provider's non-secret extras (account ids).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tickettoken.kit.schema_types import RequestModel

ProviderName = Literal["square", "stripe", "mailchimp", "quickbooks"]
ConnectionStatus = Literal["disconnected", "connecting", "connected", "error", "suspended"]
HealthStatus = Literal["healthy", "degraded", "unhealthy", "unknown"]
AuthKind = Literal["api_key", "oauth"]

# A key or secret: printable ASCII without spaces, as every provider issues them.
_KEY_PATTERN = r"^[\x21-\x7e]+$"


def _key() -> Any:
    return Field(min_length=8, max_length=500, pattern=_KEY_PATTERN)


def _optional_secret() -> Any:
    return Field(default=None, min_length=1, max_length=500, pattern=_KEY_PATTERN)


class ApiKeyCredentials(RequestModel):
    """The original's ``credentials`` object (``{apiKey, apiSecret}``)."""

    api_key: str = _key()
    api_secret: str | None = _optional_secret()


class ConnectBody(RequestModel):
    venue_id: uuid.UUID
    api_key: str | None = Field(default=None, min_length=8, max_length=500, pattern=_KEY_PATTERN)
    api_secret: str | None = _optional_secret()
    credentials: ApiKeyCredentials | None = None

    def given_key(self) -> tuple[str, str | None] | None:
        if self.api_key:
            return self.api_key, self.api_secret
        if self.credentials is not None and self.credentials.api_key:
            return self.credentials.api_key, self.credentials.api_secret
        return None


class ApiKeyBody(RequestModel):
    venue_id: uuid.UUID
    api_key: str = _key()
    api_secret: str | None = _optional_secret()
    key_name: str | None = Field(default=None, max_length=255)


class VenueBody(RequestModel):
    venue_id: uuid.UUID


class ConnectionView(BaseModel):
    provider: ProviderName
    venue_id: uuid.UUID
    status: ConnectionStatus
    auth: AuthKind | None = Field(description="How the connection is authorised, if at all")
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_sync_at: datetime | None
    health_status: HealthStatus
    last_error: str | None
    token_expires_at: datetime | None = Field(description="OAuth access token expiry")
    scopes: list[str]
    account: dict[str, str] = Field(
        description="The provider's account ids (realm_id, merchant_id, dc, stripe_user_id...)"
    )


class AuthorizationStarted(BaseModel):
    provider: ProviderName
    venue_id: uuid.UUID
    status: Literal["connecting"]
    authorization_url: str = Field(description="Send the venue admin's browser here")
    state_expires_at: datetime
