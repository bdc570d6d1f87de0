"""The failures of a connection, as the envelope's codes (SPEC 3)."""

from __future__ import annotations

from tickettoken.kit.errors import BadRequest, Conflict, NotFound, ServiceUnavailable


class NotConnected(NotFound):
    default_message = "Integration not found"


class ConnectionBroken(Conflict):
    """The provider refused the stored grant: the venue must connect again."""

    default_message = "The integration must be reconnected"


class CredentialsRefused(BadRequest):
    default_message = "The provider refused the credentials"


class ProviderUnavailable(ServiceUnavailable):
    default_message = "The provider cannot be reached; try again later"

    def __init__(self, message: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(message, retry_after=retry_after)


class InvalidOAuthState(BadRequest):
    default_message = "The OAuth state is missing, expired, already used or not yours"
