"""JWT verification at the edge (SPEC section 7), before a request reaches any service.

The rules are the kit's (``kit.token_keys.TokenVerifier``): HMAC tokens exactly as the services
verify them, RS256/ES256 tokens from a PEM public key or a JWKS URL. The services behind the
gateway verify the same way, so a token the edge lets through is one they accept.
"""

from __future__ import annotations

from starlette.types import Scope

from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import Settings
from tickettoken.kit.token_keys import TokenVerifier

PRINCIPAL_SCOPE_KEY = "tickettoken.principal"


def bearer_from_scope(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("Authorization header must be 'Bearer <token>'")
            return token.strip()
    return None


class EdgeAuth:
    """Turns a request's bearer token into a Principal, or answers 401."""

    def __init__(self, settings: Settings, *, capacity: int = 10_000) -> None:
        self.verifier = TokenVerifier(settings, capacity=capacity)

    async def authenticate(self, scope: Scope) -> Principal:
        token = bearer_from_scope(scope)
        if token is None:
            raise Unauthorized()
        principal = await self.verifier.verify(token)
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return principal

    async def verify(self, token: str) -> Principal:
        return await self.verifier.verify(token)
