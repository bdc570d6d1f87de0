"""Text PostgreSQL cannot store (U+0000, a lone surrogate), anywhere in a body, nested keys of
free-form objects included, is a 422 naming the body, never a 500 and never a stored row. The
contract run leaves such text out of its generated requests (test_schemathesis says why), so
this is where it is tested."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from tests.events.conftest import expect, unique

Json = dict[str, Any]
RAW = {"content-type": "application/json"}


async def test_nul_and_lone_surrogates_are_refused_everywhere_in_a_body(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    ticket_type = await new_ticket_type(event)
    rules = f"/api/v1/events/{event['id']}/pricing-rules"
    name = unique("Nul hall")
    rule = {
        "ticket_type_id": ticket_type["id"],
        "rule_type": "group",
        "conditions": {"min_quantity": 3, "note": ["a\x00b"]},
        "adjustment": {"type": "percentage", "value": "-5"},
    }
    bodies = [  # as JSON text: json.dumps escapes them as a client would (\u0000, \ud800)
        ("/api/v1/venues", json.dumps({"name": name + "\x00", "capacity": 10})),
        ("/api/v1/venues", json.dumps({"name": name, "capacity": 10, "metadata": {"\ud800": 1}})),
        (rules, json.dumps(rule)),
    ]
    for path, text in bodies:
        response = await client.post(path, content=text, headers={**admin, **RAW})
        body = expect(response, 422)
        assert body["code"] == "VALIDATION_ERROR"
        assert "NUL" in body["details"][0]["message"], body
    listed = expect(await client.get("/api/v1/venues?limit=100", headers=admin), 200)["data"]
    assert all(not venue["name"].startswith(name) for venue in listed)
