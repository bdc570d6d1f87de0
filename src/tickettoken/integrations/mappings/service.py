"""What the mapping routes do (SPEC 5.2): read the field table, read and replace a venue's
mapping, try one on sample data, apply, reset and heal it, and manage templates.

A mapping lives on the venue's ``integration_configs`` row for the provider, which ``connect``
creates (at the first attempt: an OAuth provider's row exists while it is ``connecting``); a venue
without that row answers 404, as the original's silent update of nothing did not. A row kept
after a disconnect keeps its mapping, so a reconnect finds it. Venue scoping is the connections'
(``scoped_venue``): another venue answers 404, staff may read and test but not change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tickettoken.integrations.connections.errors import NotConnected
from tickettoken.integrations.connections.service import scoped_venue
from tickettoken.integrations.mappings import repository
from tickettoken.integrations.mappings.defaults import DEFAULT_TEMPLATE_IDS, detect_kind
from tickettoken.integrations.mappings.fields import PROVIDER_FIELDS, SOURCE_FIELDS
from tickettoken.integrations.mappings.heal import heal_rules, usable_rules
from tickettoken.integrations.mappings.rules import (
    Problem,
    Rule,
    SampleError,
    apply_rules,
    as_json,
    check_rules,
    dump_rules,
    load_rules,
)
from tickettoken.integrations.mappings.schemas import (
    AppliedTemplate,
    ApplyTemplateBody,
    FieldsView,
    HealChange,
    HealResult,
    MappingsBody,
    MappingsView,
    RuleView,
    SourceFieldView,
    TargetFieldView,
    TargetObjectView,
    TemplateBody,
    TemplatePatch,
    TemplateSummary,
    TemplateView,
    TransformView,
    TrialBody,
    TrialResult,
    VenueBody,
)
from tickettoken.integrations.mappings.transforms import TRANSFORMS
from tickettoken.integrations.models import FieldMappingTemplate, IntegrationConfig
from tickettoken.kit.auth import Principal
from tickettoken.kit.errors import Conflict, NotFound, ValidationFailed

log = structlog.get_logger(__name__)


class TemplateNotFound(NotFound):
    default_message = "Template not found"


def _refuse(problems: Iterable[Problem], prefix: str = "body") -> None:
    details = [
        {**p.detail(), "field": f"{prefix}.{p.field}" if prefix else p.field} for p in problems
    ]
    if details:
        raise ValidationFailed(
            "Invalid mappings: " + "; ".join(d["message"] for d in details[:5]), details=details
        )


def _checked(provider: str, rules: list[Rule]) -> list[Rule]:
    _refuse(check_rules(provider, rules))
    return rules


# --- fields ------------------------------------------------------------------------------------


def fields_view(provider: str) -> FieldsView:
    fields = PROVIDER_FIELDS[provider]
    return FieldsView(
        provider=fields.provider,
        source=[
            SourceFieldView(path=f.path, entity=f.entity, type=f.type, description=f.description)
            for f in SOURCE_FIELDS
        ],
        target=[
            TargetFieldView(
                path=t.path,
                object=t.object,
                type=t.type,
                required=t.required,
                description=t.description,
            )
            for t in fields.targets
        ],
        objects=[
            TargetObjectView(name=o.name, description=o.description, sources=list(o.sources))
            for o in fields.objects
        ],
        transforms=[
            TransformView(
                name=t.name, accepts=list(t.accepts), gives=t.gives, description=t.description
            )
            for t in TRANSFORMS.values()
        ],
    )


# --- a venue's mapping -------------------------------------------------------------------------


def _rule_views(rules: Iterable[Rule]) -> list[RuleView]:
    return [RuleView(source=r.source, target=r.target, transform=r.transform) for r in rules]


def _view(row: IntegrationConfig, rules: list[Rule] | None = None) -> MappingsView:
    if rules is None:
        rules, _ = load_rules(row.field_mappings)
    return MappingsView(
        provider=row.integration_type,
        venue_id=row.venue_id,
        mappings=_rule_views(rules),
        template_id=row.template_id,
        template_applied_at=row.template_applied_at,
        updated_at=row.updated_at,
    )


async def _config(
    session: AsyncSession,
    principal: Principal,
    venue_id: uuid.UUID | None,
    provider: str,
    *,
    manage: bool,
) -> IntegrationConfig:
    venue = scoped_venue(principal, venue_id, manage=manage)
    if manage:
        row = await repository.config_for_update(session, venue, provider)
    else:
        row = await repository.config(session, venue, provider)
    if row is None:
        raise NotConnected()
    return row


async def get_mappings(
    session: AsyncSession, principal: Principal, venue_id: uuid.UUID | None, provider: str
) -> MappingsView:
    return _view(await _config(session, principal, venue_id, provider, manage=False))


async def put_mappings(
    session: AsyncSession, principal: Principal, provider: str, body: MappingsBody
) -> MappingsView:
    rules = _checked(provider, body.rules())
    row = await _config(session, principal, body.venue_id, provider, manage=True)
    await repository.store_mappings(session, row, dump_rules(rules), template_id=None)
    log.info("mappings saved", venue_id=str(row.venue_id), provider=provider, rules=len(rules))
    return _view(row, rules)


async def trial(
    session: AsyncSession, principal: Principal, provider: str, body: TrialBody
) -> TrialResult:
    """The provider-side document of the sample under the given rules (checked first) or the
    venue's stored ones (healed view: a stale stored rule is skipped, not a 500)."""
    given = body.rules()
    if given is not None:
        rules = _checked(provider, given)
        if body.venue_id is not None:
            scoped_venue(principal, body.venue_id, manage=False)
    else:
        row = await _config(session, principal, body.venue_id, provider, manage=False)
        rules = usable_rules(provider, row.field_mappings)
    try:
        applied = apply_rules(rules, body.sample)
    except SampleError as exc:
        raise ValidationFailed(
            f"Invalid sample: {exc.field}: {exc.message}",
            details=[{"field": f"body.{exc.field}", "message": exc.message}],
        ) from None
    return TrialResult(
        provider=provider, document=as_json(applied.document), missing=applied.missing
    )


def _template_rules(provider: str, template: FieldMappingTemplate) -> list[Rule]:
    """A template's rules as they hold today (a stale rule of an old template is dropped)."""
    return usable_rules(provider, template.mappings)


async def _apply(
    session: AsyncSession, row: IntegrationConfig, provider: str, template: FieldMappingTemplate
) -> list[Rule]:
    rules = _template_rules(provider, template)
    if not rules:
        raise ValidationFailed(
            "The template has no rule that holds today",
            details=[{"field": "body.template_id", "message": "template without usable rules"}],
        )
    await repository.store_mappings(session, row, dump_rules(rules), template_id=template.id)
    await repository.count_template_use(session, template.id)
    log.info(
        "mapping template applied",
        venue_id=str(row.venue_id),
        provider=provider,
        template_id=str(template.id),
    )
    return rules


def _summary(template: FieldMappingTemplate) -> TemplateSummary:
    return TemplateSummary(id=template.id, name=template.name, venue_type=template.venue_type)


async def apply_template(
    session: AsyncSession, principal: Principal, provider: str, body: ApplyTemplateBody
) -> AppliedTemplate:
    row = await _config(session, principal, body.venue_id, provider, manage=True)
    await repository.seed_default_templates(session)
    detected = None
    if body.template_id is not None:
        template = await repository.get_template(session, body.template_id)
        if template is None or not template.is_active:
            raise TemplateNotFound()
        if template.integration_type != provider:
            raise ValidationFailed(
                f"The template is for {template.integration_type}, not {provider}",
                details=[{"field": "body.template_id", "message": "template of another provider"}],
            )
    else:
        detected = detect_kind(await repository.event_categories(session, row.venue_id))
        found = await repository.best_template(session, provider, detected)
        if found is None:
            raise TemplateNotFound(f"No active {provider} template")
        template = found
    rules = await _apply(session, row, provider, template)
    return AppliedTemplate(
        **_view(row, rules).model_dump(),
        applied_template=_summary(template),
        detected_venue_type=detected,
    )


async def reset(
    session: AsyncSession, principal: Principal, provider: str, body: VenueBody
) -> AppliedTemplate:
    """Back to the provider's default template (the ``general`` one unless an admin made
    another the default)."""
    row = await _config(session, principal, body.venue_id, provider, manage=True)
    await repository.seed_default_templates(session)
    template = await repository.default_template(session, provider)
    if template is None:
        raise TemplateNotFound(f"No active default {provider} template")
    rules = await _apply(session, row, provider, template)
    return AppliedTemplate(
        **_view(row, rules).model_dump(),
        applied_template=_summary(template),
        detected_venue_type=None,
    )


async def heal(
    session: AsyncSession, principal: Principal, provider: str, body: VenueBody
) -> HealResult:
    row = await _config(session, principal, body.venue_id, provider, manage=True)
    stored, unreadable = load_rules(row.field_mappings)
    kept, changes = heal_rules(provider, stored)
    legacy_form = not (
        isinstance(row.field_mappings, dict) and row.field_mappings.get("version") == 2
    )
    changed = bool(changes or unreadable or (legacy_form and kept))
    if changed:
        # The template stays named: the mapping still came from it, minus what no longer holds.
        await repository.store_mappings(session, row, dump_rules(kept), template_id="unchanged")
        log.info(
            "mappings healed",
            venue_id=str(row.venue_id),
            provider=provider,
            removed=sum(c.action == "removed" for c in changes) + unreadable,
            renamed=sum(c.action == "renamed" for c in changes),
        )
    return HealResult(
        **_view(row, kept).model_dump(),
        changed=changed,
        changes=[
            HealChange(
                action=c.action,
                source=c.rule.source,
                target=c.rule.target,
                transform=c.rule.transform,
                new_source=c.renamed_to.source if c.renamed_to else None,
                new_target=c.renamed_to.target if c.renamed_to else None,
                reason=c.reason,
            )
            for c in changes
        ],
        unreadable_removed=unreadable,
    )


# --- templates ---------------------------------------------------------------------------------


def template_view(row: FieldMappingTemplate) -> TemplateView:
    rules, _ = load_rules(row.mappings)
    return TemplateView(
        id=row.id,
        name=row.name,
        description=row.description,
        venue_type=row.venue_type,
        provider=row.integration_type,
        mappings=_rule_views(rules),
        is_default=bool(row.is_default),
        is_active=bool(row.is_active),
        built_in=row.id in DEFAULT_TEMPLATE_IDS,
        usage_count=row.usage_count or 0,
        last_used_at=row.last_used_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def list_templates(
    session: AsyncSession,
    *,
    provider: str | None,
    venue_type: str | None,
    include_inactive: bool,
) -> list[TemplateView]:
    await repository.seed_default_templates(session)
    rows = await repository.list_templates(
        session, provider=provider, venue_type=venue_type, include_inactive=include_inactive
    )
    return [template_view(r) for r in rows]


async def get_template(session: AsyncSession, template_id: uuid.UUID) -> TemplateView:
    await repository.seed_default_templates(session)
    row = await repository.get_template(session, template_id)
    if row is None or row.integration_type not in PROVIDER_FIELDS:
        raise TemplateNotFound()
    return template_view(row)


async def _only_default(session: AsyncSession, row: FieldMappingTemplate) -> None:
    """One default per provider: making a template the default unmarks the others."""
    others = await repository.list_templates(
        session, provider=row.integration_type, venue_type=None, include_inactive=True
    )
    for other in others:
        if other.id != row.id and other.is_default:
            other.is_default = False
    await session.flush()


async def create_template(session: AsyncSession, body: TemplateBody) -> TemplateView:
    rules = _checked(body.integration_type, body.rules())
    if body.is_default and not body.is_active:
        raise Conflict("The default template must be active")
    await repository.seed_default_templates(session)
    row = await repository.add_template(
        session,
        name=body.name,
        description=body.description,
        venue_type=body.venue_type,
        integration_type=body.integration_type,
        mappings=dump_rules(rules),
        is_default=body.is_default,
        is_active=body.is_active,
    )
    if body.is_default:
        await _only_default(session, row)
    log.info("mapping template created", template_id=str(row.id), provider=row.integration_type)
    return template_view(row)


async def update_template(
    session: AsyncSession, template_id: uuid.UUID, body: TemplatePatch
) -> TemplateView:
    await repository.seed_default_templates(session)
    row = await repository.get_template(session, template_id, lock=True)
    if row is None or row.integration_type not in PROVIDER_FIELDS:
        raise TemplateNotFound()
    given = body.model_fields_set
    rules = body.rules()
    if rules is not None:
        row.mappings = dump_rules(_checked(row.integration_type, rules))
    values: dict[str, Any] = {
        name: getattr(body, name)
        for name in ("name", "description", "venue_type", "is_default", "is_active")
        if name in given
    }
    for name, value in values.items():
        setattr(row, name, value)
    if row.is_default and not row.is_active:
        raise Conflict("The default template must stay active; make another the default first")
    row.updated_at = repository.now_utc()
    await session.flush()
    if values.get("is_default"):
        await _only_default(session, row)
    return template_view(row)


async def delete_template(session: AsyncSession, template_id: uuid.UUID) -> None:
    row = await repository.get_template(session, template_id, lock=True)
    if row is None:
        raise TemplateNotFound()
    if row.id in DEFAULT_TEMPLATE_IDS:
        raise Conflict("A built-in template cannot be deleted; deactivate it (is_active: false)")
    await repository.delete_template(session, row)
