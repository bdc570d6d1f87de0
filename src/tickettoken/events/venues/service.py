"""Venue rules: only admins create venues; venue roles see and manage only their own venues.

Customers may read venues (public information needed to browse events) but not their
dashboards or analytics.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.events.audit.service import entity_snapshot, record_audit
from tickettoken.events.venues import repository
from tickettoken.events.venues.models import Venue
from tickettoken.events.venues.schemas import VenueCreate, VenueRead, VenueUpdate
from tickettoken.kit.auth import Principal, Role, require_venue_access
from tickettoken.kit.errors import Conflict, Forbidden, NotFound
from tickettoken.kit.money import to_money
from tickettoken.kit.pagination import PageParams

VENUE_ROLES = (Role.VENUE_ADMIN, Role.VENUE_STAFF)


def venue_view(venue: Venue) -> dict[str, Any]:
    return VenueRead.model_validate(venue).model_dump(mode="json")


async def create_venue(session: AsyncSession, principal: Principal, data: VenueCreate) -> Venue:
    if not principal.is_admin:
        raise Forbidden("Only administrators create venues")
    values = data.model_dump(exclude={"metadata"})
    venue = Venue(**values, metadata_=data.metadata, created_by=principal.sub)
    await repository.insert_venue(session, venue)
    await record_audit(
        session, principal, "create", "venue", venue.id, None, entity_snapshot(venue)
    )
    return venue


async def readable_venue(session: AsyncSession, principal: Principal, venue_id: uuid.UUID) -> Venue:
    """The venue if the caller may see it; 404 otherwise (existence never leaks)."""
    if principal.role in VENUE_ROLES:
        require_venue_access(principal, venue_id, manage=False)
    venue = await repository.get_venue(session, venue_id)
    if venue is None:
        raise NotFound("Venue not found")
    return venue


async def staff_venue(session: AsyncSession, principal: Principal, venue_id: uuid.UUID) -> Venue:
    """The venue if the caller is its staff (or an admin); 404 otherwise."""
    require_venue_access(principal, venue_id, manage=False)
    venue = await repository.get_venue(session, venue_id)
    if venue is None:
        raise NotFound("Venue not found")
    return venue


async def managed_venue(session: AsyncSession, principal: Principal, venue_id: uuid.UUID) -> Venue:
    """The venue if the caller may change it; 404 for another venue, 403 for read-only roles."""
    if principal.role in (Role.CUSTOMER, Role.MONITORING):
        raise Forbidden("Your role may not change venues")
    await staff_venue(session, principal, venue_id)
    if not principal.can_manage_venue(venue_id):
        raise Forbidden("Venue staff have read-only access")
    venue = await repository.get_venue(session, venue_id)
    assert venue is not None
    return venue


async def list_venues(
    session: AsyncSession, principal: Principal, page: PageParams
) -> tuple[list[Venue], int]:
    only_ids = principal.venue_ids if principal.role in VENUE_ROLES else None
    rows, total = await repository.list_venues(
        session, only_ids=only_ids, offset=page.offset, limit=page.limit
    )
    return list(rows), total


async def update_venue(
    session: AsyncSession,
    principal: Principal,
    venue_id: uuid.UUID,
    data: VenueUpdate,
) -> Venue:
    venue = await managed_venue(session, principal, venue_id)
    before = entity_snapshot(venue)
    changes = data.model_dump(exclude_unset=True)
    if "capacity" in changes:
        largest = await repository.largest_active_event_capacity(session, venue.id)
        if changes["capacity"] < largest:
            raise Conflict(f"An active event of this venue has capacity {largest}")
    for name, value in changes.items():
        setattr(venue, "metadata_" if name == "metadata" else name, value)
    await session.flush()
    await record_audit(
        session, principal, "update", "venue", venue.id, before, entity_snapshot(venue)
    )
    return venue


async def venue_dashboard(
    session: AsyncSession, principal: Principal, venue_id: uuid.UUID
) -> dict[str, Any]:
    venue = await staff_venue(session, principal, venue_id)
    totals = await repository.dashboard_totals(session, venue.id)
    gross = Decimal(totals["gross_revenue"])
    refunded = Decimal(totals["refunded"])
    return {
        "venue_id": str(venue.id),
        "totals": {
            "events": totals["events"],
            "upcoming_events": totals["upcoming_events"],
            "tickets_total": int(totals["tickets_total"]),
            "tickets_sold": int(totals["tickets_sold"]),
            "tickets_reserved": int(totals["tickets_reserved"]),
            "orders": totals["orders"],
        },
        "revenue": {
            "gross": str(to_money(gross)),
            "refunded": str(to_money(refunded)),
            "net": str(to_money(gross - refunded)),
        },
        "upcoming_events": [
            {
                "id": str(row["id"]),
                "name": row["name"],
                "category": row["category"],
                "status": row["status"],
                "start_date": row["start_date"].isoformat(),
                "capacity": row["capacity"],
                "sold": int(row["sold"]),
            }
            for row in await repository.upcoming_events(session, venue.id)
        ],
        "category_distribution": [
            {"category": row["category"], "events": row["events"]}
            for row in await repository.category_distribution(session, venue.id)
        ],
    }


async def venue_analytics(
    session: AsyncSession,
    principal: Principal,
    venue_id: uuid.UUID,
    start_date: date,
    end_date: date,
) -> dict[str, Any]:
    """Per category: events starting in the window (venue's local dates), tickets sold on
    paid orders, average ticket price, and revenue net of refunds."""
    venue = await staff_venue(session, principal, venue_id)
    rows = await repository.category_analytics(
        session, venue.id, venue.timezone, start_date, end_date
    )
    categories = []
    for row in rows:
        tickets = int(row["tickets_sold"])
        value = Decimal(row["ticket_value"])
        categories.append(
            {
                "category": row["category"],
                "events": row["events"],
                "tickets_sold": tickets,
                "average_price": str(to_money(value / tickets if tickets else Decimal(0))),
                "revenue": str(to_money(Decimal(row["revenue"]))),
            }
        )
    return {
        "venue_id": str(venue.id),
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "categories": categories,
    }


async def find_venue(session: AsyncSession, venue_id: uuid.UUID) -> Venue | None:
    """The venue or None, for other domains (the catalogue checks an event's venue)."""
    return await repository.get_venue(session, venue_id)
