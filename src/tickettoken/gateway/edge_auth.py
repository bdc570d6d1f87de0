"""JWT verification at the edge (SPEC section 7), before a request reaches any service.

The rules are the kit's (``kit.token_keys.TokenVerifier``): HMAC tokens exactly as the services
verify them, RS256/ES256 tokens from a PEM public key or a JWKS URL. The services behind the
gateway verify the same way, so a token the edge lets through is one they accept.

A client sends the same ``Authorization`` header with every request, so the edge remembers the
verdict per raw header value: a repeated header costs one dictionary lookup instead of decoding,
splitting and a signature check (or the kit cache's key). An entry is used only until the
token's ``exp`` (for a JWKS-verified token, no longer than the key set's cache lifetime), only
while the verifier's keys are the ones it was verified with (``TokenVerifier.generation``: a
rotation or a refetched JWKS empties it) and the HMAC secret is unchanged; failures are never
remembered, and a changed byte anywhere in the token (a tampered signature) is another key.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from starlette.types import Scope

from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import Settings
from tickettoken.kit.token_keys import TokenVerifier

PRINCIPAL_SCOPE_KEY = "tickettoken.principal"


def bearer_from_scope(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return _bearer(value)
    return None


def _bearer(value: bytes) -> str:
    scheme, _, token = bytes(value).decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


class EdgeAuth:
    """Turns a request's bearer token into a Principal, or answers 401."""

    def __init__(self, settings: Settings, *, capacity: int = 10_000) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings, capacity=capacity)
        self.capacity = capacity
        # raw Authorization value -> (principal, usable until, key generation, HMAC secret)
        self._known: OrderedDict[bytes, tuple[Principal, float, int, str | None]] = OrderedDict()

    async def authenticate(self, scope: Scope, header: bytes | None = None) -> Principal:
        """The caller of the request; ``header``: its ``Authorization`` value when the caller
        already read it (``headers.read_request_head``), else it is looked up here."""
        if header is None:
            for name, value in scope["headers"]:
                if name == b"authorization":
                    header = value
                    break
            if header is None:
                raise Unauthorized()
        if type(header) is not bytes:
            header = bytes(header)
        principal = self.known(header)
        if principal is None:
            principal = await self._verify_header(header)
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return principal

    def known(self, header: bytes) -> Principal | None:
        """The remembered verdict for this exact header value while it is still valid, else
        None (no await: the usual request of a returning client)."""
        known = self._known.get(header)
        if known is None:
            return None
        principal, until, generation, secret = known
        if (
            time.time() < until
            and generation == self.verifier.generation
            and secret is self.settings.jwt_secret
        ):
            self._known.move_to_end(header)
            return principal
        del self._known[header]
        return None

    async def _verify_header(self, header: bytes) -> Principal:
        generation, secret = self.verifier.generation, self.settings.jwt_secret
        principal, until = await self.verifier.verify_with_expiry(_bearer(header))
        if generation == self.verifier.generation:  # no rotation while it was verified
            self._known[header] = (principal, until, generation, secret)
            if len(self._known) > self.capacity:
                self._known.popitem(last=False)
        return principal

    async def verify(self, token: str) -> Principal:
        return await self.verifier.verify(token)
