"""The services verify asymmetrically signed tokens as the gateway does (issue 11, Deliver 2):
RS256 with a PEM public key file or the keys of a JWKS URL served locally, HMAC tokens still
accepted, forged, confused and unconfigured ones refused; and a platform signing with RS256
works end to end, through the gateway to a service that checks the caller itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.gateway.gateway_upstream import serving_app
from tests.support import auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app as create_gateway
from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.auth import Caller, mint_token
from tickettoken.kit.settings import Settings

PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "role": "customer",
        "iss": "tickettoken",
        "aud": "tickettoken-platform",
        "iat": now,
        "exp": now + 300,
    }
    values.update(overrides)
    return values


def service_app(settings: Settings) -> FastAPI:
    router = APIRouter(prefix="/api/v1/events")

    @router.get("/whoami")
    async def whoami(caller: Caller) -> dict[str, str]:
        return {"sub": caller.sub, "role": caller.role.value}

    return create_service_app(
        "event", title="a service", routers=[router], settings=settings, use_database=False
    )


def pem(private: rsa.RSAPrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@asynccontextmanager
async def jwks_server(keys: list[dict[str, Any]], fetches: list[float]) -> AsyncIterator[str]:
    async def jwks(_: Request) -> JSONResponse:
        fetches.append(time.time())
        return JSONResponse({"keys": keys})

    async with serving_app(Starlette(routes=[Route("/jwks.json", jwks)])) as base:
        yield base + "/jwks.json"


def rsa_jwk(private: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return jwk


def hmac_over(payload: dict[str, Any], secret: bytes) -> str:
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    signature = b64(hmac.new(secret, head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + signature).decode()


async def whoami(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/api/v1/events/whoami", headers=auth_header(token))
    return response.status_code


async def test_a_service_verifies_rs256_with_a_public_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "auth.pem"
    key_file.write_bytes(pem(PRIVATE))
    settings = make_settings(jwt_public_key_file=str(key_file))
    async with running_app(service_app(settings)) as client:
        assert await whoami(client, jwt.encode(claims(), PRIVATE, "RS256")) == 200
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        assert await whoami(client, jwt.encode(claims(), other, "RS256")) == 401
        expired = claims(exp=int(time.time()) - 1)
        assert await whoami(client, jwt.encode(expired, PRIVATE, "RS256")) == 401
        wrong_audience = claims(aud="someone-else")
        assert await whoami(client, jwt.encode(wrong_audience, PRIVATE, "RS256")) == 401
        # HMAC over the public key's text (algorithm confusion) is no signature of ours
        assert await whoami(client, hmac_over(claims(), key_file.read_bytes())) == 401
        # and the platform's own HMAC tokens still pass
        assert await whoami(client, mint_token(role="admin", settings=settings)) == 200


async def test_a_service_verifies_rs256_from_a_jwks_url_cached_and_refreshed() -> None:
    keys = [rsa_jwk(PRIVATE, "k1")]
    fetches: list[float] = []
    async with jwks_server(keys, fetches) as url:
        settings = make_settings(jwt_jwks_url=url, jwt_jwks_refresh_cooldown_seconds=0.0)
        async with running_app(service_app(settings)) as client:
            for _ in range(3):
                token = jwt.encode(claims(), PRIVATE, "RS256", headers={"kid": "k1"})
                assert await whoami(client, token) == 200
            assert len(fetches) == 1, "the key set is cached"
            rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            keys.append(rsa_jwk(rotated, "k2"))
            token = jwt.encode(claims(), rotated, "RS256", headers={"kid": "k2"})
            assert await whoami(client, token) == 200
            assert len(fetches) == 2, "an unknown kid refetches the key set"
            stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            lying = jwt.encode(claims(), stranger, "RS256", headers={"kid": "k1"})
            assert await whoami(client, lying) == 401


async def test_without_a_public_key_a_service_refuses_rs256() -> None:
    async with running_app(service_app(make_settings())) as client:
        assert await whoami(client, jwt.encode(claims(), PRIVATE, "RS256")) == 401


async def test_an_rs256_platform_works_through_the_gateway_to_the_service() -> None:
    keys = [rsa_jwk(PRIVATE, "k1")]
    async with jwks_server(keys, []) as url:
        settings = make_settings(jwt_jwks_url=url)
        service = service_app(settings)
        async with service.router.lifespan_context(service), serving_app(service) as base:
            gateway_settings = make_settings(jwt_jwks_url=url, event_service_url=base)
            async with running_app(create_gateway(gateway_settings)) as gateway:
                sub = str(uuid.uuid4())
                token = jwt.encode(claims(sub=sub), PRIVATE, "RS256", headers={"kid": "k1"})
                response = await gateway.get("/api/v1/events/whoami", headers=auth_header(token))
                assert response.status_code == 200, response.text
                assert response.json() == {"sub": sub, "role": "customer"}
