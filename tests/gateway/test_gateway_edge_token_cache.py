"""The edge's cache of verified Authorization headers (``gateway/edge_auth.py``): a repeated
header skips verification, but never past the token's expiry, never across a key rotation or a
changed secret, and a tampered token is never answered from it."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support import make_settings

from tickettoken.gateway.edge_auth import EdgeAuth
from tickettoken.kit.auth import mint_token
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import Settings


def scope_with(token: str) -> dict[str, Any]:
    return {"headers": [(b"authorization", f"Bearer {token}".encode())]}


class CountingVerifications:
    """Counts the verifier's calls: a cache hit makes none."""

    def __init__(self, edge: EdgeAuth) -> None:
        self.calls = 0
        verify = edge.verifier.verify_with_expiry

        async def counted(token: str) -> Any:
            self.calls += 1
            return await verify(token)

        edge.verifier.verify_with_expiry = counted  # type: ignore[method-assign]


def hmac_token(settings: Settings, lifetime: int = 300) -> str:
    return mint_token(role="customer", settings=settings, lifetime_seconds=lifetime)


async def test_a_repeated_header_is_verified_once_and_kept_no_longer_than_its_exp() -> None:
    settings = make_settings()
    edge = EdgeAuth(settings)
    counting = CountingVerifications(edge)
    token = hmac_token(settings)
    first = await edge.authenticate(scope_with(token))
    again = await edge.authenticate(scope_with(token))
    assert again == first
    assert counting.calls == 1
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    (entry,) = edge._known.values()
    assert entry[1] <= exp


async def test_an_expired_token_is_refused_even_after_it_was_accepted() -> None:
    settings = make_settings()
    edge = EdgeAuth(settings)
    token = hmac_token(settings, lifetime=1)
    await edge.authenticate(scope_with(token))
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        await edge.authenticate(scope_with(token))
    assert not edge._known


async def test_a_tampered_signature_is_not_served_from_the_cache() -> None:
    settings = make_settings()
    edge = EdgeAuth(settings)
    token = hmac_token(settings)
    await edge.authenticate(scope_with(token))
    head, body, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(Unauthorized):
        await edge.authenticate(scope_with(f"{head}.{body}.{flipped}"))
    # and another subject's claims under the cached signature
    other = jwt.decode(token, options={"verify_signature": False}) | {"sub": str(uuid.uuid4())}
    forged_body = jwt.encode(other, "not-the-secret-" + "x" * 32, "HS256").split(".")[1]
    with pytest.raises(Unauthorized):
        await edge.authenticate(scope_with(f"{head}.{forged_body}.{signature}"))


async def test_a_changed_hmac_secret_drops_what_was_verified_under_the_old_one() -> None:
    settings = make_settings()
    edge = EdgeAuth(settings)
    token = hmac_token(settings)
    await edge.authenticate(scope_with(token))
    settings.jwt_secret = "a-rotated-secret-" + "y" * 32
    with pytest.raises(Unauthorized):
        await edge.authenticate(scope_with(token))


def _pem(private: rsa.RSAPrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_a_key_rotation_refuses_tokens_of_the_withdrawn_key(tmp_path: Path) -> None:
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "auth.pem"
    key_file.write_bytes(_pem(old_key))
    settings = make_settings(jwt_public_key_file=str(key_file))
    edge = EdgeAuth(settings)
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "customer",
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 300,
    }
    old_token = jwt.encode(claims, old_key, "RS256")
    await edge.authenticate(scope_with(old_token))
    await edge.authenticate(scope_with(old_token))  # from the cache

    key_file.write_bytes(_pem(new_key))
    edge.verifier.rotate()
    with pytest.raises(Unauthorized):
        await edge.authenticate(scope_with(old_token))
    new_token = jwt.encode(claims, new_key, "RS256")
    assert (await edge.authenticate(scope_with(new_token))).sub == claims["sub"]


async def test_the_cache_is_bounded() -> None:
    settings = make_settings()
    edge = EdgeAuth(settings, capacity=3)
    for _ in range(5):
        await edge.authenticate(scope_with(hmac_token(settings)))
    assert len(edge._known) == 3
