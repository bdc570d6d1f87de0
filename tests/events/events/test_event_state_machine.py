"""The event state machine: exhaustive property tests, and the transitions through the API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.events.events.started_events import move_start_into_the_past

from tickettoken.events.events.models import EventStatus
from tickettoken.events.events.state_machine import (
    FINAL,
    TRANSITIONS,
    accepts_reservations,
    can_transition,
    ensure_transition,
)
from tickettoken.kit.errors import Conflict

Json = dict[str, Any]
statuses = st.sampled_from(list(EventStatus))

EXPECTED = {
    ("draft", "published"),
    ("draft", "cancelled"),
    ("published", "sold_out"),
    ("sold_out", "published"),
    ("published", "completed"),
    ("sold_out", "completed"),
    ("published", "cancelled"),
    ("sold_out", "cancelled"),
    ("postponed", "cancelled"),
    ("published", "postponed"),
    ("postponed", "published"),
}


@given(statuses, statuses)
def test_a_transition_is_legal_exactly_when_the_spec_lists_it(
    current: EventStatus, target: EventStatus
) -> None:
    assert can_transition(current, target) == ((current.value, target.value) in EXPECTED)
    if (current.value, target.value) in EXPECTED:
        ensure_transition(current, target)
    else:
        with pytest.raises(Conflict):
            ensure_transition(current, target)


@given(st.lists(statuses, max_size=12))
def test_no_walk_leaves_a_final_state_and_only_published_sells(walk: list[EventStatus]) -> None:
    state = EventStatus.DRAFT
    for target in walk:
        if can_transition(state, target):
            assert state not in FINAL
            state = target
    assert accepts_reservations(state) == (state is EventStatus.PUBLISHED)
    assert not TRANSITIONS[EventStatus.COMPLETED] and not TRANSITIONS[EventStatus.CANCELLED]


async def test_publish_postpone_republish_complete_through_the_api(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    db: AsyncEngine,
    new_event: Callable[..., Awaitable[Json]],
    new_ticket_type: Callable[..., Awaitable[Json]],
) -> None:
    event = await new_event()
    path = f"/api/v1/events/{event['id']}"
    assert (await client.post(f"{path}/publish", headers=admin)).status_code == 409  # no types
    await new_ticket_type(event)
    published = await client.post(f"{path}/publish", headers=admin)
    assert published.json()["data"]["status"] == "published"
    assert published.json()["data"]["published_at"]
    assert (await client.post(f"{path}/publish", headers=admin)).status_code == 409
    for target in ("postponed", "published", "completed"):
        if target == "completed":  # only once the event has started
            await move_start_into_the_past(db, event["id"])
        moved = await client.put(path, json={"status": target}, headers=admin)
        assert moved.status_code == 200 and moved.json()["data"]["status"] == target
    assert (await client.put(path, json={"status": "published"}, headers=admin)).status_code == 409


async def test_draft_cannot_be_completed_or_sold_out(
    client: httpx.AsyncClient, admin: dict[str, str], new_event: Callable[..., Awaitable[Json]]
) -> None:
    event = await new_event()
    for target in ("completed", "sold_out", "postponed"):
        response = await client.put(
            f"/api/v1/events/{event['id']}", json={"status": target}, headers=admin
        )
        assert response.status_code == 409, target


ACTIONS = st.lists(
    st.sampled_from(["publish", "cancel", "draft", "sold_out", "postponed", "completed"]),
    min_size=1,
    max_size=6,
)


@settings(max_examples=15, deadline=None)
@given(actions=ACTIONS)
async def test_any_sequence_of_api_transitions_follows_the_machine(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    published_event: Callable[..., Awaitable[tuple[Json, Json]]],
    actions: list[str],
) -> None:
    """Random walks through the API: each call succeeds exactly when the machine allows it,
    and the stored status is always the machine's."""
    event, _ = await published_event()
    path = f"/api/v1/events/{event['id']}"
    state = EventStatus.PUBLISHED
    for action in actions:
        if action == "publish":
            response = await client.post(f"{path}/publish", headers=admin)
            target = EventStatus.PUBLISHED
        elif action == "cancel":
            response = await client.post(f"{path}/cancel", json={"reason": "walk"}, headers=admin)
            target = EventStatus.CANCELLED
        else:
            response = await client.put(path, json={"status": action}, headers=admin)
            target = EventStatus(action)
        # A PUT of the current status is an idempotent no-op; the event has not started, so
        # it cannot be completed.
        legal = (
            can_transition(state, target)
            or (action not in ("publish", "cancel") and target == state)
        ) and target != EventStatus.COMPLETED
        assert response.status_code == (200 if legal else 409), (state, action, response.text)
        if legal:
            state = target
        stored = (await client.get(path, headers=admin)).json()["data"]["status"]
        assert stored == state.value
