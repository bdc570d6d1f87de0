"""JWT verification at the edge (SPEC section 7), before a request reaches any service.

HMAC tokens follow the kit's rules exactly (``kit.auth.decode_token``: pinned algorithm, ``exp``,
issuer and audience required). Platforms whose auth service signs asymmetrically are served too:
RS256/ES256 (``JWT_PUBLIC_ALGORITHMS``) verified with a PEM public key (``JWT_PUBLIC_KEY_FILE``)
or the keys of a JWKS URL (``JWT_JWKS_URL``) through PyJWT's ``PyJWKClient``, which caches the key
set and refetches it on an unknown ``kid`` (at most once per cool-down). The algorithm is taken
from the token only to choose among the allowed ones; each key verifies only its own algorithm,
so a token signed with HMAC over the public key text is refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from starlette.types import Scope

from tickettoken.kit.auth import Principal, decode_token, principal_from_claims, verified_claims
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import ConfigurationError, Settings

_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"})
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
        self.settings = settings
        configured = {a.strip().upper() for a in settings.jwt_public_algorithms.split(",")}
        unknown = configured - _ASYMMETRIC - {""}
        if unknown:
            raise ConfigurationError(f"JWT_PUBLIC_ALGORITHMS: unsupported {sorted(unknown)}")
        self.public_algorithms = frozenset(configured & _ASYMMETRIC)
        self.public_key: Any = None
        if settings.jwt_public_key_file:
            pem = Path(settings.jwt_public_key_file).read_bytes()
            self.public_key = serialization.load_pem_public_key(pem)
        self.jwks = (
            jwt.PyJWKClient(
                settings.jwt_jwks_url,
                cache_jwk_set=True,
                lifespan=300,
                timeout=5,
                cooldown_duration=settings.jwt_jwks_refresh_cooldown_seconds,
            )
            if settings.jwt_jwks_url
            else None
        )
        self.capacity = capacity
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def authenticate(self, scope: Scope) -> Principal:
        token = bearer_from_scope(scope)
        if token is None:
            raise Unauthorized()
        principal = await self.verify(token)
        scope[PRINCIPAL_SCOPE_KEY] = principal
        return principal

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        algorithm = header.get("alg")
        if algorithm == self.settings.jwt_algorithm:
            return decode_token(token, self.settings)
        if algorithm not in self.public_algorithms or (self.public_key is None and not self.jwks):
            raise Unauthorized("Invalid token")
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        key = await self._key_for(token, header, algorithm)
        claims = verified_claims(token, key, algorithm, self.settings)
        principal = principal_from_claims(claims)
        self._verified[token] = (principal, float(claims["exp"]))
        while len(self._verified) > self.capacity:
            self._verified.popitem(last=False)
        return principal

    async def _key_for(self, token: str, header: dict[str, Any], algorithm: str) -> Any:
        if self.jwks is not None and header.get("kid"):
            try:
                # PyJWKClient fetches over blocking urllib: keep it off the event loop.
                signing = await asyncio.to_thread(self.jwks.get_signing_key, str(header["kid"]))
            except jwt.PyJWKClientError as exc:
                raise Unauthorized("Invalid token: unknown signing key") from exc
            if signing.algorithm_name and signing.algorithm_name != algorithm:
                raise Unauthorized("Invalid token")
            return signing.key
        if self.public_key is None:
            raise Unauthorized("Invalid token: no key id")
        return self.public_key
