"""Attacks first: another venue's token, a venue admin writing templates, hostile field names
and hostile sample data. Every refusal is a 4xx in the envelope, never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.integrations.mappings.conftest import BASE, Rows

from tickettoken.integrations.mappings.rules import (
    MAX_SAMPLE_DEPTH,
    Rule,
    SampleError,
    apply_rules,
)

Headers = Callable[..., dict[str, str]]
STRIPE_RULES = [
    {"source": "ticket_type.name", "target": "product.name"},
    {"source": "ticket_type.price", "target": "price.unit_amount", "transform": "to_cents"},
    {"source": "ticket_type.currency", "target": "price.currency", "transform": "lowercase"},
]


async def test_another_venue_is_not_found(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers
) -> None:
    theirs, mine = uuid.uuid4(), uuid.uuid4()
    await rows.connection(theirs, "stripe")
    await rows.connection(mine, "stripe")
    intruder = headers_for("venue_admin", mine)
    venue = {"venue_id": str(theirs)}
    sample = {"ticket_type": {"name": "VIP", "price": "10.00", "currency": "USD"}}
    attempts: list[tuple[str, str, Any]] = [
        ("GET", f"/stripe/mappings?venue_id={theirs}", None),
        ("PUT", "/stripe/mappings", {**venue, "mappings": STRIPE_RULES}),
        ("POST", "/stripe/mappings/test", {**venue, "sample": sample}),
        ("POST", "/stripe/mappings/test", {**venue, "mappings": STRIPE_RULES, "sample": sample}),
        ("POST", "/stripe/mappings/apply-template", venue),
        ("POST", "/stripe/mappings/reset", venue),
        ("POST", "/stripe/mappings/heal", venue),
    ]
    for method, path, body in attempts:
        answer = await client.request(method, f"{BASE}{path}", json=body, headers=intruder)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "NOT_FOUND"
    # Nothing changed for the owner.
    assert await rows.stored_mappings(theirs, "stripe") == {}
    # Staff of the venue read and test, but cannot change.
    staff = headers_for("venue_staff", theirs)
    got = await client.get(f"{BASE}/stripe/mappings", params=venue, headers=staff)
    assert got.status_code == 200, got.text
    tried = await client.post(
        f"{BASE}/stripe/mappings/test",
        json={**venue, "mappings": STRIPE_RULES, "sample": sample},
        headers=staff,
    )
    assert tried.status_code == 200, tried.text
    for path in ("/stripe/mappings/reset", "/stripe/mappings/heal"):
        refused = await client.post(f"{BASE}{path}", json=venue, headers=staff)
        assert refused.status_code == 404, refused.text
    # The owner, on a provider it has not connected: 404 too.
    owner = headers_for("venue_admin", theirs)
    missing = await client.get(f"{BASE}/square/mappings", params=venue, headers=owner)
    assert missing.status_code == 404 and "Integration" in missing.json()["error"]
    # A customer sees nothing; no token is a 401.
    customer = headers_for("customer", theirs)
    assert (
        await client.get(f"{BASE}/stripe/mappings", params=venue, headers=customer)
    ).status_code == 404
    assert (await client.get(f"{BASE}/stripe/mappings", params=venue)).status_code == 401
    assert (await client.get(f"{BASE}/stripe/fields")).status_code == 401


async def test_rows_left_by_the_original_are_not_a_500(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers
) -> None:
    """The original wrote templates of other providers and ``JSON.stringify``-ed mappings (a
    jsonb string): listing skips or shows them, applying one without usable rules is a 422."""
    async with rows.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO field_mapping_templates (id, name, integration_type, mappings)"
                " VALUES (:paypal, 'Old PayPal', 'paypal', '{}'::jsonb),"
                " (:stripe, 'Old Stripe', 'stripe', to_jsonb('{\"a\":\"b\"}'::text))"
            ),
            {"paypal": (paypal := uuid.uuid4()), "stripe": (old := uuid.uuid4())},
        )
    admin = headers_for("admin")
    listed = await client.get(f"{BASE}/templates", headers=admin)
    assert listed.status_code == 200, listed.text
    names = {t["name"]: t for t in listed.json()["data"]}
    assert "Old PayPal" not in names and names["Old Stripe"]["mappings"] == []
    assert (await client.get(f"{BASE}/templates/{paypal}", headers=admin)).status_code == 404
    venue = uuid.uuid4()
    await rows.connection(venue, "stripe")
    applied = await client.post(
        f"{BASE}/stripe/mappings/apply-template",
        json={"venue_id": str(venue), "template_id": str(old)},
        headers=headers_for("venue_admin", venue),
    )
    assert applied.status_code == 422, applied.text
    async with rows.engine.begin() as conn:
        await conn.execute(
            text("DELETE FROM field_mapping_templates WHERE id IN (:a, :b)"),
            {"a": paypal, "b": old},
        )


async def test_only_platform_admins_write_templates(
    client: httpx.AsyncClient, headers_for: Headers
) -> None:
    venue = uuid.uuid4()
    venue_admin = headers_for("venue_admin", venue)
    admin = headers_for("admin")
    body = {"name": "Mine", "integrationType": "stripe", "mappings": STRIPE_RULES}
    refused = await client.post(f"{BASE}/templates", json=body, headers=venue_admin)
    assert refused.status_code == 403 and refused.json()["code"] == "FORBIDDEN"
    created = await client.post(f"{BASE}/templates", json=body, headers=admin)
    assert created.status_code == 201, created.text
    template = created.json()["data"]
    assert template["built_in"] is False and template["provider"] == "stripe"
    path = f"{BASE}/templates/{template['id']}"
    for method, payload in (("PUT", {"name": "Hijacked"}), ("DELETE", None)):
        answer = await client.request(method, path, json=payload, headers=venue_admin)
        assert answer.status_code == 403, (method, answer.text)
    # A venue admin may read templates (to pick one to apply); a customer may not.
    assert (await client.get(path, headers=venue_admin)).json()["data"]["name"] == "Mine"
    customer = headers_for("customer")
    assert (await client.get(f"{BASE}/templates", headers=customer)).status_code == 403
    # Built-in templates are deactivated, never deleted.
    listed = (
        await client.get(f"{BASE}/templates", params={"provider": "stripe"}, headers=admin)
    ).json()["data"]
    built_in = next(t for t in listed if t["built_in"] and t["venue_type"] == "music")
    gone = await client.delete(f"{BASE}/templates/{built_in['id']}", headers=admin)
    assert gone.status_code == 409, gone.text
    # The default must stay active.
    default = next(t for t in listed if t["is_default"])
    inactive = await client.put(
        f"{BASE}/templates/{default['id']}", json={"isActive": False}, headers=admin
    )
    assert inactive.status_code == 409, inactive.text
    assert (await client.delete(path, headers=admin)).status_code == 200
    assert (await client.get(path, headers=admin)).status_code == 404
    assert (await client.delete(path, headers=admin)).status_code == 404


def _details(answer: httpx.Response) -> list[dict[str, Any]]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["code"] == "VALIDATION_ERROR"
    details: list[dict[str, Any]] = body["details"]
    return details


@pytest.mark.parametrize(
    ("rules", "field", "words"),
    [
        (
            [{"source": "customer.password", "target": "customer.email"}],
            "body.mappings[0].source",
            "unknown source field 'customer.password'",
        ),
        (
            [{"source": "customer.email", "target": "customer.secret"}],
            "body.mappings[0].target",
            "unknown stripe target field 'customer.secret'",
        ),
        (
            [
                {"source": "ticket_type.name", "target": "product.name"},
                {"source": "ticket_type.price", "target": "price.unit_amount"},
                {"source": "ticket_type.currency", "target": "price.currency"},
            ],
            "body.mappings[1].target",
            "transform 'to_cents' would fit",
        ),
        (
            [
                {"source": "customer.email", "target": "customer.email"},
                {"source": "customer.email", "target": "customer.email", "transform": "lowercase"},
            ],
            "body.mappings[1].target",
            "duplicate target 'customer.email'",
        ),
        (
            [{"source": "customer.email", "target": "customer.email", "transform": "eval"}],
            "body.mappings[0].transform",
            "unknown transform 'eval'",
        ),
        (
            [{"source": "customer.email", "target": "product.name"}],
            "body.mappings[0].source",
            "not available when building a stripe product",
        ),
        (
            [
                {
                    "source": "ticket_type.price",
                    "target": "price.unit_amount",
                    "transform": "to_cents",
                }
            ],
            "body.mappings",
            "required target 'price.currency'",
        ),
        (
            [{"source": "__proto__", "target": "constructor.prototype"}],
            "body.mappings[0].source",
            "unknown source field '__proto__'",
        ),
        (
            [{"source": "customer.email", "target": "../../etc/passwd"}],
            "body.mappings[0].target",
            "unknown stripe target",
        ),
        (
            [{"source": "event.name" + ".x" * 90, "target": "product.name"}],
            "body.mappings[0].source",
            "...",
        ),
    ],
)
async def test_invalid_mappings_name_the_bad_field(
    client: httpx.AsyncClient,
    rows: Rows,
    headers_for: Headers,
    rules: list[dict[str, str]],
    field: str,
    words: str,
) -> None:
    venue = uuid.uuid4()
    await rows.connection(venue, "stripe")
    answer = await client.put(
        f"{BASE}/stripe/mappings",
        json={"venueId": str(venue), "mappings": rules},
        headers=headers_for("venue_admin", venue),
    )
    details = _details(answer)
    assert any(d["field"] == field and words in d["message"] for d in details), details
    assert await rows.stored_mappings(venue, "stripe") == {}
    # Templates get the same checks.
    template = await client.post(
        f"{BASE}/templates",
        json={"name": "Bad", "provider": "stripe", "mappings": rules},
        headers=headers_for("admin"),
    )
    assert any(d["field"] == field for d in _details(template))


@pytest.mark.parametrize(
    "body",
    [
        {"mappings": 5},
        {"mappings": [1, 2]},
        {"mappings": [{"source": "a\u0000b", "target": "product.name"}]},
        {"mappings": [{"source": "x" * 5000, "target": "product.name"}]},
        {"mappings": {f"event.f{i}": "product.name" for i in range(150)}},
        {"mappings": [], "extra": True},
        {"mappings": "customer.email"},
    ],
)
async def test_malformed_bodies_are_422(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers, body: dict[str, Any]
) -> None:
    venue = uuid.uuid4()
    await rows.connection(venue, "stripe")
    answer = await client.put(
        f"{BASE}/stripe/mappings",
        json={"venue_id": str(venue), **body},
        headers=headers_for("venue_admin", venue),
    )
    assert answer.status_code == 422, answer.text


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("sample", "field"),
    [
        ({"customer": {"email": "not-an-address"}}, "body.sample.customer.email"),
        ({"customer": {"email": ["a@b.c"]}}, "body.sample.customer.email"),
        ({"ticket_type": {"price": "abc"}}, "body.sample.ticket_type.price"),
        ({"ticket_type": {"price": True}}, "body.sample.ticket_type.price"),
        ({"ticket_type": {"price": "1e400"}}, "body.sample.ticket_type.price"),
        ({"ticket_type": {"price": "10.005"}}, "body.sample.ticket_type.price"),
        ({"event": {"start_date": "yesterday"}}, "body.sample.event.start_date"),
        ({"customer": _nested(MAX_SAMPLE_DEPTH + 5)}, None),
        ({"customer": {"notes": ["x"] * 6000}}, "body.sample"),
        ({"customer": {"first_name": "x" * 20_000}}, "body.sample.customer.first_name"),
    ],
)
async def test_hostile_samples_are_clear_422s(
    client: httpx.AsyncClient,
    headers_for: Headers,
    sample: dict[str, Any],
    field: str | None,
) -> None:
    rules = [
        {"source": "customer.email", "target": "customer.email"},
        {"source": "customer.first_name", "target": "customer.name"},
        {"source": "ticket_type.name", "target": "product.name"},
        {
            "source": "event.start_date",
            "target": "product.metadata.event_start",
            "transform": "to_string",
        },
        {"source": "ticket_type.price", "target": "price.unit_amount", "transform": "to_cents"},
        {"source": "ticket_type.currency", "target": "price.currency"},
    ]
    answer = await client.post(
        f"{BASE}/stripe/mappings/test",
        json={"mappings": rules, "sample": sample},
        headers=headers_for("admin"),
    )
    details = _details(answer)
    if field is not None:
        assert details[0]["field"] == field, details
    else:
        assert "deeper than" in details[0]["message"], details


async def test_json_nested_past_the_parser_is_not_a_500(
    client: httpx.AsyncClient, headers_for: Headers
) -> None:
    deep = '{"a":' * 20_000 + "1" + "}" * 20_000
    body = '{"mappings": [], "sample": {"customer": ' + deep + "}}"
    answer = await client.post(
        f"{BASE}/stripe/mappings/test",
        content=body,
        headers={**headers_for("admin"), "content-type": "application/json"},
    )
    assert answer.status_code in (400, 422), answer.text
    assert json.loads(answer.text)["success"] is False


def test_cyclic_data_is_refused_not_a_recursion_error() -> None:
    customer: dict[str, Any] = {"email": "a@b.c"}
    customer["self"] = customer
    with pytest.raises(SampleError) as caught:
        apply_rules([Rule("customer.email", "customer.email")], {"customer": customer})
    assert "cycle" in caught.value.message
