"""What the mapping routes do for a venue: the field table, a mapping saved in the original's
form and ours, the provider-side document of a sample, heal, and templates applied by id or by
the kind of venue its events show."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from tests.integrations.mappings.conftest import BASE, Rows

from tickettoken.integrations.mappings.defaults import DEFAULT_TEMPLATES, default_for
from tickettoken.integrations.mappings.fields import PROVIDER_FIELDS, SOURCE_FIELDS
from tickettoken.integrations.mappings.rules import Rule, check_rules, load_rules

Headers = Callable[..., dict[str, str]]


def test_stored_forms_are_read_without_failing() -> None:
    assert load_rules(None) == ([], 0)
    assert load_rules({}) == ([], 0)
    assert load_rules([1]) == ([], 1)
    assert load_rules({"version": 2, "rules": "x"}) == ([], 1)
    assert load_rules({"version": 2, "rules": [{"source": "a", "target": "b"}, 3]}) == (
        [Rule("a", "b")],
        1,
    )
    assert load_rules({"customer.email": "member.email_address"}) == (
        [Rule("customer.email", "member.email_address")],
        0,
    )


def test_every_default_template_is_valid() -> None:
    assert len(DEFAULT_TEMPLATES) == 4 * 5
    for template in DEFAULT_TEMPLATES:
        assert check_rules(template.provider, list(template.rules)) == [], template.name


async def test_fields_of_each_provider(client: httpx.AsyncClient, headers_for: Headers) -> None:
    staff = headers_for("venue_staff", uuid.uuid4())
    for provider, fields in PROVIDER_FIELDS.items():
        answer = await client.get(f"{BASE}/{provider}/fields", headers=staff)
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert [f["path"] for f in data["source"]] == [f.path for f in SOURCE_FIELDS]
        assert [t["path"] for t in data["target"]] == [t.path for t in fields.targets]
        assert {"customer.email", "event.name", "ticket_type.price"} <= {
            f["path"] for f in data["source"]
        }
        assert "to_cents" in {t["name"] for t in data["transforms"]}
    assert (await client.get(f"{BASE}/paypal/fields", headers=staff)).status_code == 422


async def test_save_read_and_test_a_mapping(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers
) -> None:
    venue = uuid.uuid4()
    await rows.connection(venue, "quickbooks")
    admin = headers_for("venue_admin", venue)
    # The original's flat form, under its names (venueId, fieldMappings).
    saved = await client.put(
        f"{BASE}/quickbooks/mappings",
        json={
            "venueId": str(venue),
            "fieldMappings": {"customer.email": "Customer.DisplayName"},
        },
        headers=admin,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["data"]["mappings"] == [
        {"source": "customer.email", "target": "Customer.DisplayName", "transform": None}
    ]
    rules = [
        {"source": "order.total", "target": "Invoice.Line.0.Amount"},
        {"source": "event.name", "target": "Invoice.Line.0.Description", "transform": "uppercase"},
        {"source": "order.paid_at", "target": "Invoice.TxnDate", "transform": "date_only"},
        {"source": "customer.email", "target": "Invoice.BillEmail.Address"},
        {"source": "order.id", "target": "Invoice.DocNumber"},
    ]
    saved = await client.put(
        f"{BASE}/quickbooks/mappings",
        json={"venue_id": str(venue), "mappings": rules},
        headers=admin,
    )
    assert saved.status_code == 200, saved.text
    stored = await rows.stored_mappings(venue, "quickbooks")
    assert stored["version"] == 2 and len(stored["rules"]) == 5
    got = (
        await client.get(
            f"{BASE}/quickbooks/mappings", params={"venue_id": str(venue)}, headers=admin
        )
    ).json()["data"]
    assert [r["target"] for r in got["mappings"]] == [r["target"] for r in rules]
    assert got["template_id"] is None
    # The venue's own mapping on a sample: nested paths and list indexes both ways.
    sample = {
        "order": {"id": "ord-1", "total": "120.50", "paid_at": "2026-03-04T23:30:00-05:00"},
        "event": {"name": "Spring gala"},
        "customer": {"email": "ann@example.com", "tags": [{"x": [1, 2]}]},
    }
    tried = await client.post(
        f"{BASE}/quickbooks/mappings/test",
        json={"venueId": str(venue), "sampleData": sample},
        headers=admin,
    )
    assert tried.status_code == 200, tried.text
    assert tried.json()["data"] == {
        "provider": "quickbooks",
        "document": {
            "Invoice": {
                "Line": [{"Amount": 120.5, "Description": "SPRING GALA"}],
                "TxnDate": "2026-03-04",
                "BillEmail": {"Address": "ann@example.com"},
                "DocNumber": "ord-1",
            }
        },
        "missing": [],
    }
    # Given rules, cents for Square, a source absent from the sample reported, not invented.
    square = [
        {"source": "ticket_type.name", "target": "catalog_variation.item_variation_data.name"},
        {
            "source": "ticket_type.price",
            "target": "catalog_variation.item_variation_data.price_money.amount",
            "transform": "to_cents",
        },
        {
            "source": "ticket_type.sku_is_not_a_field",
            "target": "catalog_variation.item_variation_data.sku",
        },
    ]
    refused = await client.post(
        f"{BASE}/square/mappings/test",
        json={"mappings": square, "sample": {"ticket_type": {"name": "VIP", "price": 25}}},
        headers=admin,
    )
    assert refused.status_code == 422
    answer = await client.post(
        f"{BASE}/square/mappings/test",
        json={"mappings": square[:2], "sample": {"ticket_type": {"price": "25.99"}}},
        headers=admin,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["document"] == {
        "catalog_variation": {"item_variation_data": {"price_money": {"amount": 2599}}}
    }
    assert answer.json()["data"]["missing"] == ["ticket_type.name"]


async def test_heal_reports_and_removes_stale_fields(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers
) -> None:
    venue = uuid.uuid4()
    # What the original stored (flat, its names), plus fields that never existed.
    await rows.connection(
        venue,
        "square",
        {
            "event.name": "item.name",
            "event.price": "item.variation.price",
            "customer.email": "customer.email_address",
            "customer.favourite_colour": "customer.note",
            "customer.first_name": "customer.middle_name",
            "customer.last_name": 42,
        },
    )
    admin = headers_for("venue_admin", venue)
    # Before the heal, a test of the stored mapping uses what still holds (no 500).
    tried = await client.post(
        f"{BASE}/square/mappings/test",
        json={"venue_id": str(venue), "sample": {"ticket_type": {"price": 12}}},
        headers=admin,
    )
    assert tried.status_code == 200, tried.text
    assert tried.json()["data"]["document"] == {
        "catalog_variation": {"item_variation_data": {"price_money": {"amount": 1200}}}
    }
    healed = await client.post(
        f"{BASE}/square/mappings/heal", json={"venue_id": str(venue)}, headers=admin
    )
    assert healed.status_code == 200, healed.text
    data = healed.json()["data"]
    assert data["changed"] is True and data["unreadable_removed"] == 1
    changes = {(c["action"], c["source"], c["target"]): c for c in data["changes"]}
    assert set(changes) == {
        ("renamed", "event.name", "item.name"),
        ("renamed", "event.price", "item.variation.price"),
        ("removed", "customer.favourite_colour", "customer.note"),
        ("removed", "customer.first_name", "customer.middle_name"),
    }
    price = changes[("renamed", "event.price", "item.variation.price")]
    assert price["new_source"] == "ticket_type.price"
    assert price["new_target"] == "catalog_variation.item_variation_data.price_money.amount"
    assert (
        "unknown source field 'customer.favourite_colour'"
        in (changes[("removed", "customer.favourite_colour", "customer.note")]["reason"])
    )
    expected = [
        {"source": "event.name", "target": "catalog_item.item_data.name"},
        {
            "source": "ticket_type.price",
            "target": "catalog_variation.item_variation_data.price_money.amount",
            "transform": "to_cents",
        },
        {"source": "customer.email", "target": "customer.email_address"},
    ]
    assert (await rows.stored_mappings(venue, "square")) == {"version": 2, "rules": expected}
    again = await client.post(
        f"{BASE}/square/mappings/heal", json={"venueId": str(venue)}, headers=admin
    )
    assert again.json()["data"]["changed"] is False and again.json()["data"]["changes"] == []


async def _apply(
    client: httpx.AsyncClient, headers: dict[str, str], venue: uuid.UUID, **body: Any
) -> dict[str, Any]:
    answer = await client.post(
        f"{BASE}/stripe/mappings/apply-template",
        json={"venue_id": str(venue), **body},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


async def test_apply_template_detects_the_kind_of_venue(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers
) -> None:
    cases = {
        "music": {"concert": 3, "festival": 1, "sports": 2},
        "sports": {"sports": 2, "comedy": 1},
        "theater_comedy": {"comedy": 2, "theater": 2, "conference": 3},
        "conference": {"conference": 1},
        "general": {},
    }
    for kind, categories in cases.items():
        venue = await rows.venue_with_events(categories)
        await rows.connection(venue, "stripe")
        data = await _apply(client, headers_for("venue_admin", venue), venue)
        assert data["detected_venue_type"] == kind, (categories, data)
        assert data["applied_template"]["id"] == str(default_for("stripe", kind).id)
        assert data["template_id"] == data["applied_template"]["id"]
    # A tie between kinds is no evidence: general.
    tie = await rows.venue_with_events({"sports": 1, "conference": 1})
    await rows.connection(tie, "stripe")
    assert (await _apply(client, headers_for("venue_admin", tie), tie))[
        "detected_venue_type"
    ] == "general"


async def test_apply_by_id_reset_and_template_usage(
    client: httpx.AsyncClient, rows: Rows, headers_for: Headers
) -> None:
    venue = await rows.venue_with_events({"concert": 1})
    await rows.connection(venue, "stripe")
    admin = headers_for("admin")
    owner = headers_for("venue_admin", venue)
    created = await client.post(
        f"{BASE}/templates",
        json={
            "name": "Stripe minimal",
            "venueType": "music",
            "provider": "stripe",
            "mappings": {"customer.email": "customer.email"},
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    template = created.json()["data"]
    data = await _apply(client, owner, venue, templateId=template["id"])
    assert data["mappings"] == [
        {"source": "customer.email", "target": "customer.email", "transform": None}
    ]
    assert data["detected_venue_type"] is None
    used = await client.get(f"{BASE}/templates/{template['id']}", headers=owner)
    assert used.json()["data"]["usage_count"] == 1
    # A template of another provider is refused; an unknown one is a 404.
    square = default_for("square", "general")
    wrong = await client.post(
        f"{BASE}/stripe/mappings/apply-template",
        json={"venue_id": str(venue), "template_id": str(square.id)},
        headers=owner,
    )
    assert wrong.status_code == 422, wrong.text
    unknown = await client.post(
        f"{BASE}/stripe/mappings/apply-template",
        json={"venue_id": str(venue), "template_id": str(uuid.uuid4())},
        headers=owner,
    )
    assert unknown.status_code == 404
    # Reset: the provider's default template, whatever was applied before.
    reset = await client.post(
        f"{BASE}/stripe/mappings/reset", json={"venueId": str(venue)}, headers=owner
    )
    assert reset.status_code == 200, reset.text
    general = default_for("stripe", "general")
    assert reset.json()["data"]["applied_template"]["id"] == str(general.id)
    assert len(reset.json()["data"]["mappings"]) == len(general.rules)
    # An admin's edit of a template is validated and kept.
    bad = await client.put(
        f"{BASE}/templates/{template['id']}",
        json={"mappings": [{"source": "customer.email", "target": "price.unit_amount"}]},
        headers=admin,
    )
    assert bad.status_code == 422
    null = await client.put(
        f"{BASE}/templates/{template['id']}", json={"name": None}, headers=admin
    )
    assert null.status_code == 422
    renamed = await client.put(
        f"{BASE}/templates/{template['id']}", json={"name": "Stripe tiny"}, headers=admin
    )
    assert renamed.json()["data"]["name"] == "Stripe tiny"
    assert renamed.json()["data"]["mappings"] == template["mappings"]
    await client.delete(f"{BASE}/templates/{template['id']}", headers=admin)
