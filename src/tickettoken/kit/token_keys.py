"""Verification of asymmetrically signed tokens (RS256/ES256...), shared by every service and
the gateway, for platforms whose auth service signs with a private key.

``JWT_PUBLIC_KEY_FILE`` names a PEM public key; ``JWT_JWKS_URL`` a key set, read through PyJWT's
``PyJWKClient``, which caches it and refetches it on an unknown ``kid`` (at most once per
``JWT_JWKS_REFRESH_COOLDOWN_SECONDS``). ``JWT_PUBLIC_ALGORITHMS`` lists the accepted algorithms.
The token's ``alg`` only chooses among those: each key verifies its own algorithm alone, so a
token signed with HMAC over the public key's text is refused. HMAC tokens (``JWT_ALGORITHM``)
keep the kit's rules (``kit.auth.decode_token``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from tickettoken.kit.auth import Principal, decode_token, principal_from_claims, verified_claims
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import ConfigurationError, Settings

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
)


class TokenVerifier:
    """A bearer token to the Principal it names, whichever way the platform signs; 401 if not."""

    def __init__(self, settings: Settings, *, capacity: int = 10_000) -> None:
        self.settings = settings
        configured = {a.strip().upper() for a in settings.jwt_public_algorithms.split(",")}
        unknown = configured - ASYMMETRIC_ALGORITHMS - {""}
        if unknown:
            raise ConfigurationError(f"JWT_PUBLIC_ALGORITHMS: unsupported {sorted(unknown)}")
        self.public_algorithms = frozenset(configured & ASYMMETRIC_ALGORITHMS)
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

    @property
    def asymmetric(self) -> bool:
        """Whether any public key is configured (else only HMAC tokens are accepted)."""
        return self.public_key is not None or self.jwks is not None

    async def verify(self, token: str) -> Principal:
        if not self.asymmetric:
            # HMAC only: exactly the kit's check (and its cache), no header parsed twice.
            return decode_token(token, self.settings)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        algorithm = header.get("alg")
        if algorithm == self.settings.jwt_algorithm:
            return decode_token(token, self.settings)
        if algorithm not in self.public_algorithms or not self.asymmetric:
            raise Unauthorized("Invalid token")
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        key = await self._key_for(header, algorithm)
        claims = verified_claims(token, key, algorithm, self.settings)
        principal = principal_from_claims(claims)
        self._verified[token] = (principal, float(claims["exp"]))
        while len(self._verified) > self.capacity:
            self._verified.popitem(last=False)
        return principal

    async def _key_for(self, header: dict[str, Any], algorithm: str) -> Any:
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
