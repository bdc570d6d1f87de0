"""SQL of the mapping routes: the venue's config row, the templates, the venue's event categories.

The categories are read from the event service's ``events`` table by plain SQL (the integration
service does not import the event service's package: tests/test_service_boundaries.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.mappings.defaults import DEFAULT_TEMPLATES
from tickettoken.integrations.mappings.fields import PROVIDER_NAMES
from tickettoken.integrations.mappings.rules import dump_rules
from tickettoken.integrations.models import FieldMappingTemplate, IntegrationConfig


def now_utc() -> datetime:
    return datetime.now(UTC)


async def config_for_update(
    session: AsyncSession, venue_id: uuid.UUID, provider: str
) -> IntegrationConfig | None:
    """The venue's connection row for the provider, locked for the rest of the transaction (two
    writers of the same mappings go one after the other)."""
    found: IntegrationConfig | None = await session.scalar(
        select(IntegrationConfig)
        .where(
            IntegrationConfig.venue_id == venue_id, IntegrationConfig.integration_type == provider
        )
        .with_for_update()
    )
    return found


async def config(
    session: AsyncSession, venue_id: uuid.UUID, provider: str
) -> IntegrationConfig | None:
    found: IntegrationConfig | None = await session.scalar(
        select(IntegrationConfig).where(
            IntegrationConfig.venue_id == venue_id, IntegrationConfig.integration_type == provider
        )
    )
    return found


async def store_mappings(
    session: AsyncSession,
    row: IntegrationConfig,
    stored: dict[str, Any],
    *,
    template_id: uuid.UUID | Literal["unchanged"] | None,
) -> None:
    """Replace the row's mapping; ``template_id`` names the template it now comes from (None:
    a custom mapping), or ``"unchanged"`` (a heal keeps where the mapping came from)."""
    now = now_utc()
    row.field_mappings = stored
    if template_id != "unchanged":
        row.template_id = template_id
        row.template_applied_at = now if template_id is not None else None
    row.updated_at = now
    await session.flush()


async def seed_default_templates(session: AsyncSession) -> None:
    """Insert the default templates that are missing (fixed ids: idempotent, concurrent-safe;
    an admin's edits or deactivation of a default are kept)."""
    rows = [
        {
            "id": t.id,
            "name": t.name,
            "description": t.description,
            "venue_type": t.venue_kind,
            "integration_type": t.provider,
            "mappings": dump_rules(t.rules),
            "is_default": t.is_default,
            "is_active": True,
        }
        for t in DEFAULT_TEMPLATES
    ]
    await session.execute(
        insert(FieldMappingTemplate).values(rows).on_conflict_do_nothing(index_elements=["id"])
    )


async def list_templates(
    session: AsyncSession,
    *,
    provider: str | None,
    venue_type: str | None,
    include_inactive: bool,
) -> list[FieldMappingTemplate]:
    query = select(FieldMappingTemplate).order_by(
        FieldMappingTemplate.integration_type,
        FieldMappingTemplate.venue_type.nulls_last(),
        FieldMappingTemplate.name,
        FieldMappingTemplate.id,
    )
    # Rows of providers this service does not know (left by the original) are not shown.
    query = query.where(FieldMappingTemplate.integration_type.in_(PROVIDER_NAMES))
    if provider is not None:
        query = query.where(FieldMappingTemplate.integration_type == provider)
    if venue_type is not None:
        query = query.where(FieldMappingTemplate.venue_type == venue_type)
    if not include_inactive:
        query = query.where(FieldMappingTemplate.is_active.is_(True))
    return list((await session.scalars(query)).all())


async def get_template(
    session: AsyncSession, template_id: uuid.UUID, *, lock: bool = False
) -> FieldMappingTemplate | None:
    query = select(FieldMappingTemplate).where(FieldMappingTemplate.id == template_id)
    if lock:
        query = query.with_for_update()
    found: FieldMappingTemplate | None = await session.scalar(query)
    return found


async def best_template(
    session: AsyncSession, provider: str, venue_type: str
) -> FieldMappingTemplate | None:
    """The active template for the kind of venue (the provider's default first, then the most
    used), else the provider's default."""
    for condition in (
        FieldMappingTemplate.venue_type == venue_type,
        FieldMappingTemplate.is_default.is_(True),
    ):
        found: FieldMappingTemplate | None = await session.scalar(
            select(FieldMappingTemplate)
            .where(
                FieldMappingTemplate.integration_type == provider,
                FieldMappingTemplate.is_active.is_(True),
                condition,
            )
            .order_by(
                FieldMappingTemplate.is_default.desc().nulls_last(),
                FieldMappingTemplate.usage_count.desc().nulls_last(),
                FieldMappingTemplate.created_at,
                FieldMappingTemplate.id,
            )
            .limit(1)
        )
        if found is not None:
            return found
    return None


async def default_template(session: AsyncSession, provider: str) -> FieldMappingTemplate | None:
    found: FieldMappingTemplate | None = await session.scalar(
        select(FieldMappingTemplate)
        .where(
            FieldMappingTemplate.integration_type == provider,
            FieldMappingTemplate.is_active.is_(True),
            FieldMappingTemplate.is_default.is_(True),
        )
        .order_by(FieldMappingTemplate.created_at, FieldMappingTemplate.id)
        .limit(1)
    )
    return found


async def count_template_use(session: AsyncSession, template_id: uuid.UUID) -> None:
    now = now_utc()
    await session.execute(
        update(FieldMappingTemplate)
        .where(FieldMappingTemplate.id == template_id)
        .values(
            usage_count=func.coalesce(FieldMappingTemplate.usage_count, 0) + 1,
            last_used_at=now,
        )
    )


async def add_template(session: AsyncSession, **values: Any) -> FieldMappingTemplate:
    row = FieldMappingTemplate(**values)
    session.add(row)
    await session.flush()
    return row


async def delete_template(session: AsyncSession, row: FieldMappingTemplate) -> None:
    await session.delete(row)
    await session.flush()


_CATEGORIES = text(
    """
    SELECT category, count(*) AS events
    FROM events
    WHERE venue_id = :venue_id AND deleted_at IS NULL AND status <> 'cancelled'
    GROUP BY category
    """
)


async def event_categories(session: AsyncSession, venue_id: uuid.UUID) -> dict[str, int]:
    """How many live events of the venue each category has (the event service's table)."""
    rows = await session.execute(_CATEGORIES, {"venue_id": venue_id})
    return {str(category): int(count) for category, count in rows.all()}
