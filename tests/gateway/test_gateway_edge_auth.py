"""Edge auth (issue 11, Deliver 2): the kit's JWT rules at the gateway, public routes open, and
RS256/ES256 tokens from a public key file or a JWKS URL, against real upstream servers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.gateway.gateway_upstream import serving, serving_app
from tests.support import TEST_JWT_SECRET, auth_header, make_settings, running_app

from tickettoken.gateway.app import create_app
from tickettoken.kit.auth import mint_token


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


async def upstream_calls(client: httpx.AsyncClient, upstream: str) -> dict[str, int]:
    return dict((await client.get(upstream + "/__calls")).json())


@asynccontextmanager
async def gateway_for(**overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with serving("event") as upstream:
        settings = make_settings(
            event_service_url=upstream, integration_service_url=upstream, auth_service_url=upstream
        )
        settings = settings.model_copy(update=overrides)
        async with running_app(create_app(settings)) as client:
            yield client, upstream


async def test_a_protected_route_without_a_token_is_401_and_never_reaches_the_service() -> None:
    async with gateway_for() as (client, upstream), httpx.AsyncClient() as direct:
        response = await client.get("/api/v1/events/x/echo")
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"] == "Bearer"
        assert await upstream_calls(direct, upstream) == {}


@pytest.mark.parametrize(
    "bad",
    [
        "expired",
        "wrong_issuer",
        "wrong_audience",
        "no_exp",
        "alg_none",
        "wrong_secret",
        "not_bearer",
    ],
)
async def test_tokens_the_kit_refuses_are_refused_at_the_edge(bad: str) -> None:
    secret = TEST_JWT_SECRET
    tokens: dict[str, Callable[[], str]] = {
        "expired": lambda: jwt.encode(claims(exp=int(time.time()) - 5), secret, "HS256"),
        "wrong_issuer": lambda: jwt.encode(claims(iss="someone"), secret, "HS256"),
        "wrong_audience": lambda: jwt.encode(claims(aud="other"), secret, "HS256"),
        "no_exp": lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, secret),
        "alg_none": lambda: jwt.encode(claims(), None, "none"),
        "wrong_secret": lambda: jwt.encode(claims(), "x" * 40, "HS256"),
        "not_bearer": lambda: "",
    }
    headers = (
        {"Authorization": "Basic YWRtaW46YWRtaW4="}
        if bad == "not_bearer"
        else auth_header(tokens[bad]())
    )
    async with gateway_for() as (client, upstream), httpx.AsyncClient() as direct:
        response = await client.get("/api/v1/events/x/echo", headers=headers)
        assert response.status_code == 401, bad
        assert await upstream_calls(direct, upstream) == {}


async def test_a_valid_kit_token_passes_with_its_authorization_header() -> None:
    async with gateway_for() as (client, _):
        token = mint_token(role="customer", settings=make_settings())
        response = await client.get("/api/v1/events/x/echo", headers=auth_header(token))
        assert response.status_code == 200
        received = dict((k.lower(), v) for k, v in response.json()["headers"])
        assert received["authorization"] == f"Bearer {token}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/integrations/webhooks/stripe"),
        ("POST", "/api/v1/integrations/webhooks/square"),
        ("GET", "/api/v1/integrations/webhooks/mailchimp"),
        ("POST", "/api/v1/integrations/webhooks/mailchimp/v1.secret-path-token"),
        ("GET", "/api/v1/integrations/oauth/callback/quickbooks?code=c&state=s&realmId=9"),
    ],
)
async def test_public_routes_are_open_without_a_token(method: str, path: str) -> None:
    async with gateway_for() as (client, _):
        response = await client.request(method, path)
        assert response.status_code == 200, response.text


async def test_public_prefix_does_not_open_neighbouring_routes() -> None:
    async with gateway_for() as (client, _):
        for path in (
            "/api/v1/auth/users",
            "/api/v1/integrations/webhooks/stripe/events",
            "/api/v1/integrations/webhooks/mailchimp/events",
        ):
            assert (await client.get(path)).status_code == 401, path


async def test_a_stripe_signed_webhook_passes_through_unchanged() -> None:
    secret = "whsec_" + uuid.uuid4().hex
    payload = json.dumps({"id": "evt_1", "type": "charge.succeeded", "amount": 1250.0}).encode()
    payload = payload.replace(b", ", b",   ")  # unusual spacing a re-serialiser would change
    stamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), stamp.encode() + b"." + payload, "sha256").hexdigest()
    header = f"t={stamp},v1={signature}"
    async with gateway_for() as (client, _):
        response = await client.post(
            "/api/v1/integrations/webhooks/stripe",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )
    body = response.json()
    assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()
    received = dict((k.lower(), v) for k, v in body["headers"])
    assert received["stripe-signature"] == header
    received_stamp, received_sig = (part.split("=", 1)[1] for part in header.split(","))
    expected = hmac.new(
        secret.encode(), received_stamp.encode() + b"." + payload, "sha256"
    ).hexdigest()
    assert hmac.compare_digest(expected, received_sig)


def _pem(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def test_rs256_tokens_verify_with_the_public_key_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "auth.pem"
    key_file.write_bytes(_pem(private))
    async with gateway_for(jwt_public_key_file=str(key_file)) as (client, _):
        good = jwt.encode(claims(), private, "RS256")
        assert (await client.get("/api/v1/events", headers=auth_header(good))).status_code == 200
        forged = jwt.encode(claims(), other, "RS256")
        assert (await client.get("/api/v1/events", headers=auth_header(forged))).status_code == 401
        expired = jwt.encode(claims(exp=int(time.time()) - 1), private, "RS256")
        response = await client.get("/api/v1/events", headers=auth_header(expired))
        assert response.status_code == 401
        # algorithm confusion: HMAC over the public key text must not verify
        confused = _hmac_with_public_key(claims(), key_file.read_bytes())
        response = await client.get("/api/v1/events", headers=auth_header(confused))
        assert response.status_code == 401


def _hmac_with_public_key(payload: dict[str, Any], pem: bytes) -> str:
    def b64(data: bytes) -> bytes:
        import base64

        return base64.urlsafe_b64encode(data).rstrip(b"=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    sig = b64(hmac.new(pem, head + b"." + body, "sha256").digest())
    return (head + b"." + body + b"." + sig).decode()


@asynccontextmanager
async def jwks_server(keys: list[dict[str, Any]], fetches: list[float]) -> AsyncIterator[str]:
    async def jwks(_: Request) -> JSONResponse:
        fetches.append(time.time())
        return JSONResponse({"keys": keys})

    async with serving_app(Starlette(routes=[Route("/jwks.json", jwks)])) as base:
        yield base + "/jwks.json"


def _jwk(private: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return jwk


async def test_es256_tokens_verify_from_jwks_cached_and_refreshed_on_a_new_kid() -> None:
    first = ec.generate_private_key(ec.SECP256R1())
    second = ec.generate_private_key(ec.SECP256R1())
    keys = [_jwk(first, "k1")]
    fetches: list[float] = []
    async with (
        jwks_server(keys, fetches) as url,
        gateway_for(jwt_jwks_url=url, jwt_jwks_refresh_cooldown_seconds=0.0) as (client, _),
    ):
        for _ in range(3):
            token = jwt.encode(claims(), first, "ES256", headers={"kid": "k1"})
            response = await client.get("/api/v1/events", headers=auth_header(token))
            assert response.status_code == 200
        assert len(fetches) == 1, "the key set is cached"

        keys.append(_jwk(second, "k2"))  # the auth service rotates its key
        rotated = jwt.encode(claims(), second, "ES256", headers={"kid": "k2"})
        assert (await client.get("/api/v1/events", headers=auth_header(rotated))).status_code == 200
        assert len(fetches) == 2, "an unknown kid refetches the key set"

        stranger = ec.generate_private_key(ec.SECP256R1())
        unknown = jwt.encode(claims(), stranger, "ES256", headers={"kid": "k9"})
        assert (await client.get("/api/v1/events", headers=auth_header(unknown))).status_code == 401
        lying = jwt.encode(claims(), stranger, "ES256", headers={"kid": "k1"})
        assert (await client.get("/api/v1/events", headers=auth_header(lying))).status_code == 401


async def test_asymmetric_tokens_are_refused_when_no_public_key_is_configured() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    async with gateway_for() as (client, _):
        token = jwt.encode(claims(), private, "ES256")
        assert (await client.get("/api/v1/events", headers=auth_header(token))).status_code == 401
