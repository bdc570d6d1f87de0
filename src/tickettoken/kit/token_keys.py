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

from tickettoken.kit.auth import (
    Principal,
    decode_token_with_expiry,
    principal_from_claims,
    verified_claims,
)
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import ConfigurationError, Settings

JWKS_LIFESPAN_SECONDS = 300

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
                lifespan=JWKS_LIFESPAN_SECONDS,
                timeout=5,
                cooldown_duration=settings.jwt_jwks_refresh_cooldown_seconds,
            )
            if settings.jwt_jwks_url
            else None
        )
        self.capacity = capacity
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        # Bumped whenever the keys may have changed (``rotate``, a refetched JWKS): caches of
        # verified tokens kept elsewhere (the gateway's edge) drop what they hold.
        self.generation = 0
        self._jwk_set: Any = None

    def rotate(self) -> None:
        """The keys changed (a new public key file, a JWKS to refetch): forget every verified
        token, re-read the key file and let the next asymmetric token refetch the key set."""
        self._verified.clear()
        if self.settings.jwt_public_key_file:
            pem = Path(self.settings.jwt_public_key_file).read_bytes()
            self.public_key = serialization.load_pem_public_key(pem)
        if self.jwks is not None and self.jwks.jwk_set_cache is not None:
            self.jwks.jwk_set_cache.put(None)
        self.generation += 1

    @property
    def asymmetric(self) -> bool:
        """Whether any public key is configured (else only HMAC tokens are accepted)."""
        return self.public_key is not None or self.jwks is not None

    async def verify(self, token: str) -> Principal:
        return (await self.verify_with_expiry(token))[0]

    async def verify_with_expiry(self, token: str) -> tuple[Principal, float]:
        """The token's Principal and until when (epoch seconds) that verdict may be reused: the
        token's ``exp``; for a token verified with a JWKS key, no later than the key set's own
        cache lifetime, so a key withdrawn from the set stops being honoured."""
        if not self.asymmetric:
            # HMAC only: exactly the kit's check (and its cache), no header parsed twice.
            return decode_token_with_expiry(token, self.settings)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("Invalid token") from exc
        algorithm = header.get("alg")
        if algorithm == self.settings.jwt_algorithm:
            return decode_token_with_expiry(token, self.settings)
        if algorithm not in self.public_algorithms or not self.asymmetric:
            raise Unauthorized("Invalid token")
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached
        key, from_jwks = await self._key_for(header, algorithm)
        claims = verified_claims(token, key, algorithm, self.settings)
        principal = principal_from_claims(claims)
        expires_at = float(claims["exp"])
        if from_jwks:
            expires_at = min(expires_at, time.time() + JWKS_LIFESPAN_SECONDS)
        self._verified[token] = entry = (principal, expires_at)
        while len(self._verified) > self.capacity:
            self._verified.popitem(last=False)
        return entry

    async def _key_for(self, header: dict[str, Any], algorithm: str) -> tuple[Any, bool]:
        """(the key, whether it came from the JWKS)."""
        if self.jwks is not None and header.get("kid"):
            try:
                # PyJWKClient fetches over blocking urllib: keep it off the event loop.
                signing = await asyncio.to_thread(self.jwks.get_signing_key, str(header["kid"]))
            except jwt.PyJWKClientError as exc:
                self._note_jwk_set()
                raise Unauthorized("Invalid token: unknown signing key") from exc
            self._note_jwk_set()
            if signing.algorithm_name and signing.algorithm_name != algorithm:
                raise Unauthorized("Invalid token")
            return signing.key, True
        if self.public_key is None:
            raise Unauthorized("Invalid token: no key id")
        return self.public_key, False

    def _note_jwk_set(self) -> None:
        """A refetched key set (keys added or withdrawn) makes every verified token suspect."""
        cache = self.jwks.jwk_set_cache if self.jwks is not None else None
        current = cache.jwk_set_with_timestamp if cache is not None else None
        if current is not None and current is not self._jwk_set:
            if self._jwk_set is not None:
                self._verified.clear()
                self.generation += 1
            self._jwk_set = current
