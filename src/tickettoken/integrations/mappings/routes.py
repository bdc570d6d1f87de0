"""HTTP routes of field mappings (SPEC 5.2), under ``/api/v1/integrations/mappings``.

Template routes come first in ``router`` so ``/mappings/templates/...`` is never read as a
provider. Reading templates is open to venue roles (a venue admin picks one to apply); creating,
changing and deleting them is for platform admins (403 otherwise).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from tickettoken.integrations.connections.routes import VenueQuery
from tickettoken.integrations.mappings import service
from tickettoken.integrations.mappings.defaults import VenueKind
from tickettoken.integrations.mappings.fields import ProviderName
from tickettoken.integrations.mappings.schemas import (
    AppliedTemplate,
    ApplyTemplateBody,
    Deleted,
    FieldsView,
    HealResult,
    MappingsBody,
    MappingsView,
    TemplateBody,
    TemplatePatch,
    TemplateView,
    TrialBody,
    TrialResult,
    VenueBody,
)
from tickettoken.kit.auth import Caller, Principal, Role, require_roles
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, errors
from tickettoken.kit.db import DbSession
from tickettoken.kit.pagination import ok

PREFIX = "/api/v1/integrations/mappings"

router = APIRouter(
    prefix=PREFIX,
    tags=["integrations: mappings"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
TemplateReader = Annotated[
    Principal,
    Depends(require_roles(Role.VENUE_ADMIN, Role.VENUE_STAFF, Role.SERVICE)),
]
WITH_BODY = errors(400, 413)
NO_CONNECTION = errors(
    **{"404": "The venue is not visible to the caller, or has no connection for the provider"}
)
TEMPLATE_MISSING = errors(**{"404": "Template not found"})

# --- templates (admin CRUD; read for venue roles) ----------------------------------------------


@router.get("/templates", response_model=Ok[list[TemplateView]])
async def list_templates(
    session: DbSession,
    principal: TemplateReader,
    provider: Annotated[ProviderName | None, Query()] = None,
    venue_type: Annotated[VenueKind | None, Query()] = None,
    include_inactive: Annotated[bool, Query(description="Admins only")] = False,
) -> dict[str, Any]:
    return ok(
        await service.list_templates(
            session,
            provider=provider,
            venue_type=venue_type,
            include_inactive=include_inactive and principal.is_admin,
        )
    )


@router.post(
    "/templates",
    status_code=201,
    response_model=Ok[TemplateView],
    responses=WITH_BODY,
)
async def create_template(body: TemplateBody, session: DbSession, _: Admin) -> dict[str, Any]:
    return ok(await service.create_template(session, body))


@router.get("/templates/{template_id}", response_model=Ok[TemplateView], responses=TEMPLATE_MISSING)
async def get_template(
    template_id: uuid.UUID, session: DbSession, _: TemplateReader
) -> dict[str, Any]:
    return ok(await service.get_template(session, template_id))


@router.put(
    "/templates/{template_id}",
    response_model=Ok[TemplateView],
    responses={**WITH_BODY, **TEMPLATE_MISSING, **errors(409)},
)
async def update_template(
    template_id: uuid.UUID, body: TemplatePatch, session: DbSession, _: Admin
) -> dict[str, Any]:
    return ok(await service.update_template(session, template_id, body))


@router.delete(
    "/templates/{template_id}",
    response_model=Ok[Deleted],
    responses={
        **TEMPLATE_MISSING,
        **errors(**{"409": "A built-in template: deactivate it instead"}),
    },
)
async def delete_template(template_id: uuid.UUID, session: DbSession, _: Admin) -> dict[str, Any]:
    await service.delete_template(session, template_id)
    return ok(Deleted(id=template_id))


# --- a provider's fields and a venue's mapping -------------------------------------------------


@router.get("/{provider}/fields", response_model=Ok[FieldsView])
async def fields(provider: ProviderName, _: Caller) -> dict[str, Any]:
    return ok(service.fields_view(provider))


@router.get("/{provider}/mappings", response_model=Ok[MappingsView], responses=NO_CONNECTION)
async def get_mappings(
    provider: ProviderName, session: DbSession, principal: Caller, venue_id: VenueQuery = None
) -> dict[str, Any]:
    return ok(await service.get_mappings(session, principal, venue_id, provider))


@router.put(
    "/{provider}/mappings",
    response_model=Ok[MappingsView],
    responses={**WITH_BODY, **NO_CONNECTION},
)
async def put_mappings(
    provider: ProviderName, body: MappingsBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.put_mappings(session, principal, provider, body))


@router.post(
    "/{provider}/mappings/test",
    response_model=Ok[TrialResult],
    responses={**WITH_BODY, **NO_CONNECTION},
)
async def try_mappings(
    provider: ProviderName, body: TrialBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.trial(session, principal, provider, body))


@router.post(
    "/{provider}/mappings/apply-template",
    response_model=Ok[AppliedTemplate],
    responses={
        **WITH_BODY,
        **errors(**{"404": "No such venue connection, or no such active template"}),
    },
)
async def apply_template(
    provider: ProviderName, body: ApplyTemplateBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.apply_template(session, principal, provider, body))


@router.post(
    "/{provider}/mappings/reset",
    response_model=Ok[AppliedTemplate],
    responses={**WITH_BODY, **NO_CONNECTION},
)
async def reset_mappings(
    provider: ProviderName, body: VenueBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.reset(session, principal, provider, body))


@router.post(
    "/{provider}/mappings/heal",
    response_model=Ok[HealResult],
    responses={**WITH_BODY, **NO_CONNECTION},
)
async def heal_mappings(
    provider: ProviderName, body: VenueBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    return ok(await service.heal(session, principal, provider, body))
