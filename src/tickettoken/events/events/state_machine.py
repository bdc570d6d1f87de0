"""The event status state machine (SPEC 4.2), as data so it can be tested exhaustively.

draft → published → (sold_out ↔ published) → completed; draft|published|sold_out|postponed →
cancelled; published → postponed → published. completed and cancelled are final.
"""

from __future__ import annotations

from tickettoken.events.events.models import EventStatus
from tickettoken.kit.errors import Conflict

S = EventStatus

TRANSITIONS: dict[EventStatus, frozenset[EventStatus]] = {
    S.DRAFT: frozenset({S.PUBLISHED, S.CANCELLED}),
    S.PUBLISHED: frozenset({S.SOLD_OUT, S.POSTPONED, S.COMPLETED, S.CANCELLED}),
    S.SOLD_OUT: frozenset({S.PUBLISHED, S.COMPLETED, S.CANCELLED}),
    S.POSTPONED: frozenset({S.PUBLISHED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}

FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets)
ACCEPTS_RESERVATIONS = frozenset({S.PUBLISHED})


def can_transition(current: str, target: str) -> bool:
    return EventStatus(target) in TRANSITIONS[EventStatus(current)]


def ensure_transition(current: str, target: str) -> None:
    """Raise 409 unless ``current → target`` is a transition of the machine."""
    if not can_transition(current, target):
        raise Conflict(f"An event cannot go from {current} to {target}")


def accepts_reservations(status: str) -> bool:
    return EventStatus(status) in ACCEPTS_RESERVATIONS
