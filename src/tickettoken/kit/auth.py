"""JWT identity, roles and venue scoping (SPEC section 3).

Tokens are verified locally with the algorithm pinned, ``exp`` required, and issuer and audience
checked. Authorization is a property of the resource: ``require_venue_access`` answers 404 for a
venue the caller may not see, so existence never leaks.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from jwt.algorithms import HMACAlgorithm

from tickettoken.kit.dev_secrets import dev_secret
from tickettoken.kit.errors import Forbidden, NotFound, Unauthorized
from tickettoken.kit.request_context import set_actor
from tickettoken.kit.settings import Environment, Settings, get_settings


class _KeyCheckedOnceHMAC(HMACAlgorithm):
    """PyJWT's HMAC, with its check of the secret made once per secret instead of per token.

    PyJWT prepares the key on every verification (it rules out PEM and SSH keys, with
    exceptions on the way), even for a ``PyJWK``: a fifth of the CPU of verifying a first-seen
    token, measured under the flash-sale benchmark, where every request carries a new buyer's
    token. The check itself is PyJWT's, unchanged; the algorithm is installed through PyJWT's
    public ``register_algorithm``.
    """

    def prepare_key(self, key: str | bytes) -> bytes:
        return _checked_hmac_key(self.hash_alg, key if isinstance(key, bytes) else key.encode())


@functools.lru_cache(maxsize=16)
def _checked_hmac_key(hash_alg: Any, key: bytes) -> bytes:
    return HMACAlgorithm(hash_alg).prepare_key(key)


def _install_hmac_algorithms() -> None:
    for name, hash_alg in (
        ("HS256", HMACAlgorithm.SHA256),
        ("HS384", HMACAlgorithm.SHA384),
        ("HS512", HMACAlgorithm.SHA512),
    ):
        jwt.unregister_algorithm(name)
        jwt.register_algorithm(name, _KeyCheckedOnceHMAC(hash_alg))


_install_hmac_algorithms()


class Role(StrEnum):
    ADMIN = "admin"
    VENUE_ADMIN = "venue_admin"
    VENUE_STAFF = "venue_staff"
    CUSTOMER = "customer"
    MONITORING = "monitoring"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the token says."""

    sub: str
    role: Role
    venue_ids: frozenset[str] = field(default_factory=frozenset)
    permissions: frozenset[str] = field(default_factory=frozenset)
    tenant_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_service(self) -> bool:
        return self.role is Role.SERVICE

    def can_read_venue(self, venue_id: str | uuid.UUID) -> bool:
        if self.role in (Role.ADMIN, Role.SERVICE):
            return True
        if self.role in (Role.VENUE_ADMIN, Role.VENUE_STAFF):
            return str(venue_id) in self.venue_ids
        return False

    def can_manage_venue(self, venue_id: str | uuid.UUID) -> bool:
        if self.role in (Role.ADMIN, Role.SERVICE):
            return True
        return self.role is Role.VENUE_ADMIN and str(venue_id) in self.venue_ids


def jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.environment is Environment.DEVELOPMENT:
        return dev_secret("JWT_SECRET")
    raise Unauthorized("Authentication is not configured")


def mint_token(
    *,
    role: Role | str,
    sub: str | None = None,
    venue_ids: Iterable[str] = (),
    permissions: Iterable[str] = (),
    tenant_id: str | None = None,
    lifetime_seconds: int | None = None,
    settings: Settings | None = None,
) -> str:
    settings = settings or get_settings()
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub or str(uuid.uuid4()),
        "role": Role(role).value,
        # Venue ids are UUIDs (ValueError otherwise): a token with anything else is refused.
        "venue_ids": [str(uuid.UUID(venue_id)) for venue_id in venue_ids],
        "permissions": list(permissions),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + (lifetime_seconds or settings.jwt_lifetime_seconds()),
        "jti": uuid.uuid4().hex,
    }
    if tenant_id:
        claims["tenant_id"] = tenant_id
    return jwt.encode(claims, jwt_secret(settings), algorithm=settings.jwt_algorithm)


class _VerifiedTokens:
    """Tokens already verified, so a client's repeated requests skip the signature check.

    A cached entry is used only until the token's own ``exp`` and only under the same key,
    algorithm, issuer and audience; failures are never cached. Bounded, oldest out first.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, str], tuple[Principal, float]] = OrderedDict()

    @staticmethod
    def _key(token: str, settings: Settings) -> tuple[str, str]:
        context = (
            f"{jwt_secret(settings)}|{settings.jwt_algorithm}|{settings.jwt_issuer}|"
            f"{settings.jwt_audience}"
        )
        return token, context

    def get(self, token: str, settings: Settings) -> tuple[Principal, float] | None:
        """(principal, expiry) of a token verified before under these settings, if unexpired."""
        key = self._key(token, settings)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.time() >= entry[1]:
            del self._entries[key]
            return None
        return entry

    def put(self, token: str, settings: Settings, principal: Principal, expires_at: float) -> None:
        self._entries[self._key(token, settings)] = (principal, expires_at)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


_verified = _VerifiedTokens()


def decode_token(token: str, settings: Settings | None = None) -> Principal:
    """Verify a bearer token and turn its claims into a Principal; 401 on any failure."""
    return decode_token_with_expiry(token, settings)[0]


def decode_token_with_expiry(
    token: str, settings: Settings | None = None
) -> tuple[Principal, float]:
    """``decode_token`` and the token's ``exp`` (epoch seconds)."""
    settings = settings or get_settings()
    cached = _verified.get(token, settings)
    if cached is not None:
        return cached
    algorithm = settings.jwt_algorithm
    claims = verified_claims(token, jwt_secret(settings), algorithm, settings)
    principal = principal_from_claims(claims)
    expires_at = float(claims["exp"])
    _verified.put(token, settings, principal, expires_at)
    return principal, expires_at


def verified_claims(token: str, key: Any, algorithm: str, settings: Settings) -> dict[str, Any]:
    """A token's claims once its signature under ``key``, ``exp``, issuer and audience check out.

    The one place every token is verified (the kit's HMAC tokens and the edge's asymmetric
    ones), so both refuse the same things with the same 401s.
    """
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("Token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("Invalid token") from exc
    return claims


MAX_SUBJECT_LENGTH = 255
MAX_TOKEN_VENUES = 1_000


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The caller a token's claims describe; 401 for claims that make no sense.

    A signed token is still refused when its claims are malformed (a venue id that is not a
    UUID, ``venue_ids`` that is not a list, an unknown role, an empty or oversized subject):
    such values used to travel on and fail as a 500 deep inside a query.
    """
    sub = _subject(claims.get("sub") or claims.get("userId") or claims.get("id"))
    try:
        role = Role(str(claims.get("role", "")).lower())
    except ValueError as exc:
        raise Unauthorized("Token has an unknown role") from exc
    venues = claims.get("venue_ids")
    if venues is None and claims.get("venueId") is not None:
        venues = [claims["venueId"]]
    permissions = claims.get("permissions")
    if permissions is not None and not (
        isinstance(permissions, list) and all(isinstance(p, str) for p in permissions)
    ):
        raise Unauthorized("Token has malformed permissions")
    tenant = claims.get("tenant_id")
    return Principal(
        sub=sub,
        role=role,
        venue_ids=_venue_ids(venues),
        permissions=frozenset(permissions or ()),
        tenant_id=str(tenant) if tenant else None,
    )


def _subject(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Unauthorized("Token has no subject")
    sub = str(value)
    if not sub.strip() or len(sub) > MAX_SUBJECT_LENGTH:
        raise Unauthorized("Token has no valid subject")
    return sub


def _venue_ids(value: object) -> frozenset[str]:
    """Venue ids in their canonical form (lowercase UUID); anything else is a bad token."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or len(value) > MAX_TOKEN_VENUES:
        raise Unauthorized("Token has malformed venue_ids")
    canonical = set()
    for venue_id in value:
        try:
            canonical.add(str(uuid.UUID(venue_id)))
        except (ValueError, TypeError, AttributeError) as exc:
            raise Unauthorized("Token has malformed venue_ids") from exc
    return frozenset(canonical)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


_PRINCIPAL_SCOPE_KEY = "tickettoken.principal"


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller, or 401. Kept in the ASGI scope for the rest of
    the request (a plain dict: ``request.state`` costs an exception per miss)."""
    cached = request.scope.get(_PRINCIPAL_SCOPE_KEY)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthorized()
    # The application's verifier (``create_service_app``) also knows RS256/ES256 keys.
    verifier = getattr(request.app.state, "token_verifier", None)
    if verifier is not None:
        principal: Principal = await verifier.verify(token)
    else:
        app_settings = getattr(request.app.state, "settings", None)
        principal = decode_token(
            token, app_settings if isinstance(app_settings, Settings) else None
        )
    request.scope[_PRINCIPAL_SCOPE_KEY] = principal
    set_actor((principal.sub, principal.role.value))  # the audit's actor (kit.request_context)
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
"""The one spelling of "the verified caller" in a route signature."""


async def optional_principal(request: Request) -> Principal | None:
    if request.headers.get("authorization") is None:
        return None
    return await current_principal(request)


Authenticator = Callable[[Request], Coroutine[Any, Any, Principal]]


def require_roles(*roles: Role, authenticate: Authenticator | None = None) -> Authenticator:
    """FastAPI dependency factory: the caller must hold one of ``roles`` (admin always may).

    ``authenticate`` finds the caller (default: the bearer token); a service with another way
    in, such as the queue dashboard's session cookie, passes its own.
    """
    allowed = frozenset(roles) | {Role.ADMIN}
    find_caller = authenticate or current_principal

    async def dependency(request: Request) -> Principal:
        principal = await find_caller(request)
        if principal.role not in allowed:
            raise Forbidden("Your role may not do this")
        return principal

    return dependency


def require_venue_access(principal: Principal, venue_id: str | uuid.UUID, *, manage: bool) -> None:
    """404 (never 403) when the caller may not see or manage the venue: existence stays hidden."""
    allowed = principal.can_manage_venue(venue_id) if manage else principal.can_read_venue(venue_id)
    if not allowed:
        raise NotFound("Venue not found")
