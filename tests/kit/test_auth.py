"""JWT verification: pinned algorithm, exp, issuer, audience; roles; through a real app."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends
from tests.support import TEST_JWT_SECRET, auth_header, make_settings, running_app

from tickettoken.kit.app_factory import create_service_app
from tickettoken.kit.auth import (
    Principal,
    Role,
    current_principal,
    decode_token,
    mint_token,
    require_roles,
)
from tickettoken.kit.errors import Unauthorized
from tickettoken.kit.settings import Settings

SETTINGS = make_settings()
VENUE_1 = str(uuid.uuid4())
VENUE_9 = str(uuid.uuid4())


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    values: dict[str, object] = {
        "sub": "user-1",
        "role": "venue_admin",
        "venue_ids": [VENUE_1],
        "iss": "tickettoken",
        "aud": "tickettoken-platform",
        "iat": now,
        "exp": now + 600,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def encode(payload: dict[str, object], key: str = TEST_JWT_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


def test_valid_token_gives_the_principal() -> None:
    principal = decode_token(encode(claims()), SETTINGS)
    assert principal == Principal(
        sub="user-1", role=Role.VENUE_ADMIN, venue_ids=frozenset({VENUE_1})
    )
    assert principal.can_manage_venue(VENUE_1) and not principal.can_manage_venue(VENUE_9)


def test_minted_token_round_trips() -> None:
    token = mint_token(role="customer", sub="c-9", settings=SETTINGS)
    assert decode_token(token, SETTINGS).sub == "c-9"


@pytest.mark.parametrize(
    ("token_factory", "message"),
    [
        (lambda: encode(claims(exp=int(time.time()) - 5)), "expired"),
        (lambda: encode(claims(iss="someone-else")), "Invalid"),
        (lambda: encode(claims(aud="another-platform")), "Invalid"),
        (lambda: encode(claims(), key="a-different-secret-of-enough-length!!"), "Invalid"),
        (lambda: encode(claims(exp=None)), "Invalid"),
        (lambda: encode(claims(), alg="HS512"), "Invalid"),
        (lambda: jwt.encode(claims(), None, algorithm="none"), "Invalid"),
        (lambda: encode(claims(role="superuser")), "unknown role"),
        (lambda: encode(claims(sub=None)), "subject"),
        (lambda: "not-a-jwt", "Invalid"),
    ],
    ids=[
        "expired",
        "wrong-issuer",
        "wrong-audience",
        "wrong-key",
        "no-exp",
        "alg-switch",
        "alg-none",
        "unknown-role",
        "no-subject",
        "garbage",
    ],
)
def test_bad_tokens_are_refused(token_factory: object, message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        decode_token(token_factory(), SETTINGS)  # type: ignore[operator]


def test_alternative_claim_names_of_the_original_platform() -> None:
    principal = decode_token(
        encode(claims(sub=None, userId="u-7", venue_ids=None, venueId=VENUE_9)), SETTINGS
    )
    assert principal.sub == "u-7"
    assert principal.venue_ids == frozenset({VENUE_9})


def _app(settings: Settings) -> object:
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(principal: Principal = Depends(current_principal)) -> dict[str, str]:
        return {"sub": principal.sub, "role": principal.role.value}

    @router.post("/admin-only")
    async def admin_only(
        principal: Principal = Depends(require_roles(Role.MONITORING)),
    ) -> dict[str, str]:
        return {"sub": principal.sub}

    return create_service_app(
        "test", title="t", routers=[router], settings=settings, use_database=False
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(_app(SETTINGS)) as c:  # type: ignore[arg-type]
        yield c


async def test_routes_answer_401_in_the_envelope_without_or_with_a_bad_token(
    client: httpx.AsyncClient,
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        auth_header(encode(claims(exp=int(time.time()) - 1))),
    ):
        response = await client.get("/whoami", headers=headers)
        assert response.status_code == 401
        body = response.json()
        assert body["success"] is False and body["code"] == "UNAUTHORIZED"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_role_checks_answer_403_and_admin_always_passes(client: httpx.AsyncClient) -> None:
    customer = mint_token(role="customer", settings=SETTINGS)
    response = await client.post("/admin-only", headers=auth_header(customer))
    assert response.status_code == 403 and response.json()["code"] == "FORBIDDEN"
    for role in ("monitoring", "admin"):
        sub = uuid.uuid4().hex
        ok = await client.post(
            "/admin-only", headers=auth_header(mint_token(role=role, sub=sub, settings=SETTINGS))
        )
        assert ok.status_code == 200 and ok.json() == {"sub": sub}


def test_a_verified_token_is_refused_once_it_expires_even_when_cached() -> None:
    token = encode(claims(exp=int(time.time()) + 1))
    assert decode_token(token, SETTINGS).sub == "user-1"
    assert decode_token(token, SETTINGS).sub == "user-1"  # served from the cache
    time.sleep(max(0.0, int(time.time()) + 1.05 - time.time()))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(token, SETTINGS)


def test_a_cached_token_is_not_accepted_under_another_secret_or_audience() -> None:
    token = encode(claims())
    assert decode_token(token, SETTINGS).sub == "user-1"
    with pytest.raises(Unauthorized):
        decode_token(token, make_settings(jwt_secret="another-secret-" + "x" * 32))
    with pytest.raises(Unauthorized):
        decode_token(token, make_settings(jwt_audience="another-platform"))
