"""Request bodies and answers of the mapping routes.

Bodies accept the original's names too: ``venueId``, ``templateId``, ``fieldMappings``, and a
mapping as its flat ``{source: target}`` object as well as this service's list of rules.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, field_validator

from tickettoken.integrations.mappings.defaults import VenueKind
from tickettoken.integrations.mappings.fields import ProviderName, ValueType
from tickettoken.integrations.mappings.rules import MAX_RULES, Rule
from tickettoken.kit.schema_types import RequestModel, omittable

_PATH = r"^[^\x00]{1,200}$"
FieldPath = Annotated[str, Field(min_length=1, max_length=200, pattern=_PATH)]


class RuleBody(RequestModel):
    source: FieldPath = Field(description="Platform field, e.g. customer.email")
    target: FieldPath = Field(description="Provider field, e.g. customer.email_address")
    transform: str | None = Field(default=None, max_length=50, description="See /fields")

    def rule(self) -> Rule:
        return Rule(self.source, self.target, self.transform or None)


# A flat ``{source: target}`` object (the original's form) or a list of rules.
FlatMappings = Annotated[dict[FieldPath, FieldPath], Field(max_length=MAX_RULES)]
RuleList = Annotated[list[RuleBody], Field(max_length=MAX_RULES)]


def _rules(value: RuleList | FlatMappings) -> list[Rule]:
    if isinstance(value, dict):
        return [Rule(source, target) for source, target in value.items()]
    return [r.rule() for r in value]


def _without_null_branch(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
    schema.pop("default", None)


def _mappings_field(**kwargs: Any) -> Any:
    return Field(
        validation_alias=AliasChoices("mappings", "field_mappings", "fieldMappings"), **kwargs
    )


class MappingsBody(RequestModel):
    venue_id: uuid.UUID | None = None
    mappings: RuleList | FlatMappings = _mappings_field()

    def rules(self) -> list[Rule]:
        return _rules(self.mappings)


# The sample's entities; their content is checked against the field table by the service.
Sample = Annotated[dict[str, Any], Field(max_length=10)]


class TrialBody(RequestModel):
    venue_id: uuid.UUID | None = None
    mappings: RuleList | FlatMappings | None = _mappings_field(
        default=None, description="Rules to try (default: the venue's stored mapping)"
    )
    sample: Sample = Field(
        validation_alias=AliasChoices("sample", "sample_data", "sampleData", "data"),
        description='A record as the sync engine builds it: {"event": {...}, "ticket_type":'
        ' {...}, "customer": {...}, "order": {...}}',
    )

    def rules(self) -> list[Rule] | None:
        return None if self.mappings is None else _rules(self.mappings)


class VenueBody(RequestModel):
    venue_id: uuid.UUID | None = None


class ApplyTemplateBody(RequestModel):
    venue_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = Field(
        default=None, description="Default: detected from the venue's events"
    )


class TemplateBody(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    venue_type: VenueKind | None = None
    integration_type: ProviderName = Field(
        validation_alias=AliasChoices("integration_type", "integrationType", "provider")
    )
    mappings: RuleList | FlatMappings = _mappings_field()
    is_default: bool = False
    is_active: bool = True

    def rules(self) -> list[Rule]:
        return _rules(self.mappings)


class TemplatePatch(RequestModel):
    """A template's new values; what is left out stays (the provider cannot change)."""

    name: str | None = omittable(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    venue_type: VenueKind | None = None
    mappings: RuleList | FlatMappings | None = _mappings_field(
        default=None, json_schema_extra=_without_null_branch
    )
    is_default: bool | None = omittable()
    is_active: bool | None = omittable()

    @field_validator("name", "mappings", "is_default", "is_active", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out but not null")
        return value

    def rules(self) -> list[Rule] | None:
        return None if self.mappings is None else _rules(self.mappings)


# --- answers -----------------------------------------------------------------------------------


class RuleView(BaseModel):
    source: str
    target: str
    transform: str | None = None


class SourceFieldView(BaseModel):
    path: str
    entity: str
    type: ValueType
    description: str


class TargetFieldView(BaseModel):
    path: str
    object: str
    type: ValueType
    required: bool = Field(description="Required whenever any field of its object is mapped")
    description: str


class TargetObjectView(BaseModel):
    name: str
    description: str
    sources: list[str] = Field(description="Source entities a rule of this object may read")


class TransformView(BaseModel):
    name: str
    accepts: list[ValueType]
    gives: ValueType | None = Field(description="null: the type it was given")
    description: str


class FieldsView(BaseModel):
    provider: ProviderName
    source: list[SourceFieldView]
    target: list[TargetFieldView]
    objects: list[TargetObjectView]
    transforms: list[TransformView]


class MappingsView(BaseModel):
    provider: ProviderName
    venue_id: uuid.UUID
    mappings: list[RuleView]
    template_id: uuid.UUID | None
    template_applied_at: datetime | None
    updated_at: datetime


class TrialResult(BaseModel):
    provider: ProviderName
    document: dict[str, Any] = Field(description="The provider-side objects, by object name")
    missing: list[str] = Field(description="Mapped sources absent from the sample (left out)")


class AppliedTemplate(MappingsView):
    applied_template: TemplateSummary
    detected_venue_type: VenueKind | None = Field(
        description="The kind detected from the venue's events, when no template was named"
    )


class TemplateSummary(BaseModel):
    id: uuid.UUID
    name: str
    venue_type: str | None


class HealChange(BaseModel):
    action: Literal["removed", "renamed"]
    source: str
    target: str
    transform: str | None = None
    new_source: str | None = None
    new_target: str | None = None
    reason: str


class HealResult(MappingsView):
    changed: bool
    changes: list[HealChange]
    unreadable_removed: int = Field(description="Stored entries that were not rules at all")


class TemplateView(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    venue_type: str | None
    provider: ProviderName
    mappings: list[RuleView]
    is_default: bool
    is_active: bool
    built_in: bool = Field(description="One of the seeded defaults (deactivate, do not delete)")
    usage_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


class Deleted(BaseModel):
    id: uuid.UUID
    deleted: Literal[True] = True


AppliedTemplate.model_rebuild()
