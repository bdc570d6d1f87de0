"""One Pydantic model per job type: what a job's payload may hold (SPEC section 6, issue 7).

The same model is applied when a job is enqueued (the queue service's routes and the platform's
own ``enqueue``: 422 naming the field, nothing stored) and when a handler reads the payload
(``read``), so the two can never disagree. Fields are snake_case and also accept the original
platform's camelCase names (``eventType``, ``venueId``, ``transactionId``...); what is stored is
the model's snake_case form, so handlers, callbacks and idempotency keys see one spelling.

Types are strict (``"100"`` is not a number of cents), ids and sizes are bounded, and no string
anywhere in a payload may hold NUL or a lone surrogate (PostgreSQL's jsonb refuses both; before
this they reached the database and answered 500). Communication jobs name a template
(``templates``) and fill its slots; they carry no free text, subject or sender.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AliasChoices,
    AliasGenerator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from tickettoken.kit.errors import ValidationFailed
from tickettoken.kit.jobs.declarations import PermanentJobError
from tickettoken.kit.jobs.records import JobSpec
from tickettoken.kit.jobs.templates import MAX_VALUE_LENGTH, TEMPLATES

# SPEC section 6 retention periods: floors that no cleanup payload can lower.
RETENTION_FLOOR_DAYS = {"metrics": 30, "alerts": 7, "jobs": 90}
MAX_RETENTION_DAYS = 3650
MAX_CENTS = 100_000_000_000  # an order of many $1,000,000.00 tickets still fits
MAX_OBJECT_BYTES = 16 * 1024


def _json_integer(value: Any) -> Any:
    """A JSON integer: a number without a fraction (``50`` or ``50.0``, the same value in JSON),
    never a boolean or a numeric string; the fraction is refused by ``int`` itself."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    return value


# Bounds go before the validator (``Annotated[int, Field(...), JSON_INTEGER]``), so that the
# schema names them (minimum, maximum) even inside an optional field.
JSON_INTEGER = BeforeValidator(_json_integer)
JsonInt = Annotated[int, JSON_INTEGER]


def _iso_text(value: Any) -> Any:
    """A time as the schema says, ISO 8601 text with a zone; not a number of seconds."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time with a time zone")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]
MAX_EPOCH = 4_102_444_800_000  # 2100-01-01 in milliseconds


def _iso_or_epoch(value: Any) -> Any:
    """ISO text, or the original platform's epoch number (seconds, or milliseconds as
    ``Date.now()`` gives them) from 1970 to 2100."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 date-time or epoch milliseconds")
    if not 0 <= value <= MAX_EPOCH:
        raise ValueError("epoch time out of range (1970 to 2100)")
    return value


EventTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_or_epoch),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "minimum": 0, "maximum": MAX_EPOCH},
            ]
        }
    ),
]
Ident = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+=/\-]+$")
]
Cents = Annotated[int, Field(gt=0, le=MAX_CENTS), JSON_INTEGER]
Amount = Annotated[Decimal, Field(gt=0, le=MAX_CENTS // 100, decimal_places=2)]
Currency = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_lower=True)]
Label = Annotated[StrictStr, StringConstraints(min_length=1, max_length=200)]
TemplateValue = (
    Annotated[
        StrictStr,
        StringConstraints(max_length=MAX_VALUE_LENGTH, pattern=r"^[^\x00-\x1f\x7f]*$"),
    ]
    | JsonInt
)
# One address, no display name or list: the same rule the customers' EmailStr implies, kept
# loose enough that every address the platform stored can still be written to.
# Spaces and controls spelled as ranges, not ``\s``: Python's ``\s`` and a JSON Schema (ECMA)
# validator's disagree (U+0085), and the schema must refuse exactly what the model refuses.
_ADDRESS_PART = r"[^@,;<>\x00-\x20\x7f-\xa0]+"
EmailAddress = Annotated[
    StrictStr,
    StringConstraints(
        max_length=254, pattern=rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$"
    ),
]
Phone = Annotated[StrictStr, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
DeviceToken = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9_:.\-]+$")
]
Period = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$")]
TemplateName = Literal["order-confirmation", "event-cancelled"]
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]


class FieldProblem(ValueError):
    """A rule across fields, reported against the field the caller has to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _aliases(*names: str) -> Any:
    return Field(None, validation_alias=AliasChoices(*names))


def _small_object(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, default=str)) > MAX_OBJECT_BYTES:
        raise ValueError(f"must be at most {MAX_OBJECT_BYTES} bytes of JSON")
    return value


class JobPayload(BaseModel):
    """Base of every payload model: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel),
        loc_by_alias=False,
    )

    def stored(self) -> dict[str, Any]:
        """The canonical (snake_case, JSON) form that is written to the job table."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class MoneyAmount(JobPayload):
    """``amount_cents``, or the original's ``amount`` in currency units (18.5 is 1850 cents)."""

    amount_cents: Cents | None = None
    amount: Amount | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _cents(self) -> MoneyAmount:
        if self.amount is not None:
            cents = int(self.amount * 100)
            if self.amount_cents is not None and self.amount_cents != cents:
                raise FieldProblem("amount", "amount and amount_cents disagree")
            self.amount_cents = cents
        return self


class PaymentProcess(MoneyAmount):
    amount_cents: Annotated[int, Field(ge=0, le=MAX_CENTS), JSON_INTEGER] | None = None  # the
    # provider, not the queue, turns down a free order's charge (as before)
    order_id: uuid.UUID | None = None
    payment_intent_id: Ident | None = None
    currency: Currency | None = None
    payment_method: (
        Annotated[StrictStr, StringConstraints(max_length=255, pattern=r"^[A-Za-z0-9_]+$")] | None
    ) = None
    customer_id: Ident | None = None
    venue_id: uuid.UUID | None = None
    user_id: Ident | None = None
    event_id: Ident | None = None

    @model_validator(mode="after")
    def _identity(self) -> PaymentProcess:
        if self.order_id is None and self.payment_intent_id is None:
            raise FieldProblem("order_id", "order_id or payment_intent_id is required")
        if self.payment_intent_id is None and self.amount_cents is None:
            raise FieldProblem("amount_cents", "amount_cents is required to charge an order")
        return self


class RefundProcess(MoneyAmount):
    refund_id: Ident | None = None
    order_id: uuid.UUID | None = None
    payment_intent_id: Ident | None = _aliases(
        "payment_intent_id", "paymentIntentId", "transaction_id", "transactionId"
    )
    charge_id: Ident | None = None
    currency: Currency | None = None
    reason: RefundReason | None = None
    venue_id: uuid.UUID | None = None
    user_id: Ident | None = None

    @model_validator(mode="after")
    def _identity(self) -> RefundProcess:
        paid_by = self.payment_intent_id or self.charge_id
        if paid_by is None:
            raise FieldProblem("payment_intent_id", "payment_intent_id or charge_id is required")
        if self.refund_id is None:  # the original: one refund per transaction
            self.refund_id = paid_by
        return self


class PayoutProcess(MoneyAmount):
    venue_id: uuid.UUID
    payout_id: Ident | None = None
    period: Period | None = None
    currency: Currency | None = None
    destination: Ident | None = None

    @model_validator(mode="after")
    def _identity(self) -> PayoutProcess:
        if self.payout_id is None:
            if self.period is None:
                raise FieldProblem("payout_id", "payout_id or period is required")
            self.payout_id = f"{self.venue_id}:{self.period}"
        return self


class NftMint(JobPayload):
    ticket_id: Ident
    owner: Ident
    event_id: Ident | None = None
    seat_id: Ident | None = None
    user_id: Ident | None = None
    venue_id: uuid.UUID | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _small_object(value)


class TemplatedMessage(JobPayload):
    """A platform message: the template's slots, exactly, and nothing else."""

    template: TemplateName
    data: dict[str, TemplateValue] = Field(default_factory=dict)
    message_id: Ident | None = None

    @model_validator(mode="after")
    def _slots(self) -> TemplatedMessage:
        wanted = TEMPLATES[self.template].variables
        for name in sorted(wanted - self.data.keys()):
            raise FieldProblem(f"data.{name}", f"template {self.template!r} needs {name}")
        for name in sorted(self.data.keys() - wanted):
            raise FieldProblem(f"data.{name}", f"template {self.template!r} has no {name}")
        return self


class SendEmail(TemplatedMessage):
    to: EmailAddress


class SendSms(TemplatedMessage):
    to: Phone


class SendPush(TemplatedMessage):
    token: DeviceToken


class AnalyticsTrack(JobPayload):
    event_type: Label
    venue_id: uuid.UUID | None = None
    user_id: Ident | None = None
    event_id: Ident | None = None
    properties: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("properties", "data")
    )
    occurred_at: EventTime | None = _aliases("occurred_at", "occurredAt", "timestamp")

    @field_validator("properties")
    @classmethod
    def _properties_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _small_object(value)


def _retention(kind: str) -> Any:
    return Field(ge=RETENTION_FLOOR_DAYS[kind], le=MAX_RETENTION_DAYS)


MetricsDays = Annotated[int, _retention("metrics"), JSON_INTEGER]
AlertsDays = Annotated[int, _retention("alerts"), JSON_INTEGER]
JobsDays = Annotated[int, _retention("jobs"), JSON_INTEGER]


class CleanupOldData(JobPayload):
    """Longer retention is allowed; shorter than SPEC's periods never."""

    metrics_days: MetricsDays | None = None
    alerts_days: AlertsDays | None = None
    jobs_days: JobsDays | None = None

    def days(self) -> dict[str, int]:
        chosen = {"metrics": self.metrics_days, "alerts": self.alerts_days, "jobs": self.jobs_days}
        return {kind: max(RETENTION_FLOOR_DAYS[kind], value or 0) for kind, value in chosen.items()}


class ReportPeriod(JobPayload):
    """``{"from", "to"}``: ISO times with a zone; default the last 7 days."""

    from_: IsoTime | None = Field(
        None, validation_alias=AliasChoices("from", "from_"), serialization_alias="from"
    )
    to: IsoTime | None = None


class GenerateReport(JobPayload):
    report_type: Literal["queue-activity", "analytics-summary"]
    parameters: ReportPeriod = Field(default_factory=ReportPeriod)
    report_id: uuid.UUID | None = None
    requested_by: Label | None = None


class IntegrationJob(JobPayload):
    """``sync``/``webhook``: the provider names the implementation; the rest is its own."""

    model_config = ConfigDict(extra="allow")

    provider: Annotated[
        StrictStr, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    ]
    venue_id: uuid.UUID | None = None


MAX_BOX_OFFICE_QUANTITY = 100_000


class BoxOfficeSale(JobPayload):
    """``box-office-sale``: seats sold at a venue's box office (a Square POS sale of a synced
    ticket item), to take from the platform's inventory once per ``sale_key``."""

    venue_id: uuid.UUID
    ticket_type_id: uuid.UUID
    quantity: Annotated[int, Field(gt=0, le=MAX_BOX_OFFICE_QUANTITY), JSON_INTEGER]
    sale_key: Ident  # the delivery and the catalog variation: a second job with it does nothing
    source: Literal["square"] = "square"
    webhook_id: uuid.UUID | None = None
    event_id: Ident | None = None  # the provider's event id of the delivery
    catalog_object_id: Ident | None = None
    location_id: Ident | None = None
    calculated_at: IsoTime | None = None
    count_before: Annotated[int, Field(ge=0), JSON_INTEGER] | None = None
    count_after: Annotated[int, Field(ge=0), JSON_INTEGER] | None = None


class ProviderRefund(JobPayload):
    """``provider-refund``: a refund the provider reports as made (a Stripe ``refund.*`` or
    ``charge.refunded`` webhook), to count on the order paid by ``payment_intent``. A claim: the
    event service checks it against the order (money-integrity.md) before anything counts."""

    provider: Literal["stripe"] = "stripe"
    provider_refund_id: Ident
    payment_intent: Ident
    amount_cents: Cents
    currency: Currency | None = None
    venue_id: uuid.UUID | None = None  # the connected account's venue; None: the platform's
    # The platform's own refund row this is (the refund-process job sets it as the refund's
    # ``metadata.refund_id``); None: a refund made elsewhere (the provider's dashboard).
    platform_refund_id: uuid.UUID | None = None
    event_id: Ident | None = None
    webhook_id: uuid.UUID | None = None


class MarketingUnsubscribe(JobPayload):
    """``marketing-unsubscribe``: a person left the marketing list (Mailchimp audience
    ``unsubscribe``: one venue's customers; Mandrill ``unsub``: ``venue_id`` None, every venue's
    customers with that email)."""

    email: EmailAddress
    source: Literal["mailchimp", "mandrill"]
    venue_id: uuid.UUID | None = None
    unsubscribed_at: IsoTime | None = None
    event_id: Ident | None = None
    webhook_id: uuid.UUID | None = None


class BoxOfficeReturn(JobPayload):
    """``box-office-return``: seats of box-office sales given back (a Square refund or a
    cancelled order that put them back in stock: the variation's ``SOLD`` count fell), to return
    to the platform's inventory once per ``return_key``."""

    venue_id: uuid.UUID
    ticket_type_id: uuid.UUID
    quantity: Annotated[int, Field(gt=0, le=MAX_BOX_OFFICE_QUANTITY), JSON_INTEGER]
    return_key: Ident  # the delivery and the catalog variation: a second job with it does nothing
    source: Literal["square"] = "square"
    webhook_id: uuid.UUID | None = None
    event_id: Ident | None = None
    catalog_object_id: Ident | None = None
    location_id: Ident | None = None
    calculated_at: IsoTime | None = None
    sold_count_after: Annotated[int, Field(ge=0), JSON_INTEGER] | None = None


PAYLOADS: dict[str, type[JobPayload]] = {
    "payment-process": PaymentProcess,
    "refund-process": RefundProcess,
    "payout-process": PayoutProcess,
    "nft-mint": NftMint,
    "send-email": SendEmail,
    "send-sms": SendSms,
    "send-push": SendPush,
    "analytics-track": AnalyticsTrack,
    "cleanup-old-data": CleanupOldData,
    "generate-report": GenerateReport,
    "sync": IntegrationJob,
    "webhook": IntegrationJob,
    "box-office-sale": BoxOfficeSale,
    "box-office-return": BoxOfficeReturn,
    "provider-refund": ProviderRefund,
    "marketing-unsubscribe": MarketingUnsubscribe,
}

Model = TypeVar("Model", bound=JobPayload)


def _unstorable(value: Any, path: str, problems: list[dict[str, str]]) -> None:
    """Strings PostgreSQL cannot store in jsonb: NUL, and lone surrogates (not UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            problems.append({"field": path, "message": "must not contain NUL characters"})
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                problems.append({"field": path, "message": "must be valid Unicode text"})
    elif isinstance(value, dict):
        for key, item in value.items():
            _unstorable(key, f"{path}.{key!r}", problems)
            _unstorable(item, f"{path}.{key}", problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _unstorable(item, f"{path}.{index}", problems)


def _details(exc: ValidationError, where: str) -> list[dict[str, str]]:
    details = []
    for error in exc.errors():
        problem = (error.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):
            field, message = problem.field, str(problem)
        else:
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"]
        details.append({"field": f"{where}.{field}" if field else where, "message": message})
    return details


def validate_payload(job_type: str, payload: Any, *, where: str = "data") -> dict[str, Any]:
    """The payload in its stored form, or ``ValidationFailed`` (422) naming each bad field."""
    problems: list[dict[str, str]] = []
    _unstorable(payload, where, problems)
    if problems:
        raise ValidationFailed("Job data cannot be stored", details=problems)
    model = PAYLOADS.get(job_type)
    if model is None:  # engine-only types (noop): any object
        if not isinstance(payload, dict):
            raise ValidationFailed(
                "Job data must be an object", details=[{"field": where, "message": "not an object"}]
            )
        return payload
    try:
        return model.model_validate(payload).stored()
    except ValidationError as exc:
        raise ValidationFailed(
            f"Invalid data for a {job_type} job", details=_details(exc, where)
        ) from None


def payload_venue(payload: dict[str, Any]) -> str | None:
    """The venue a (stored-form) payload names, if any."""
    venue = payload.get("venue_id")
    return str(venue) if venue else None


def checked_spec(spec: JobSpec, *, where: str = "data") -> JobSpec:
    """The spec with its payload validated and stored-form; the job's venue defaults to the
    payload's, and the two must agree."""
    payload = validate_payload(spec.type, spec.payload, where=where)
    if spec.type not in PAYLOADS:  # engine-only types (the benchmark's noop): as they came
        return spec
    venue = payload_venue(payload)
    if venue is not None and spec.venue_id is not None and str(uuid.UUID(spec.venue_id)) != venue:
        raise ValidationFailed(
            "The job's venue and its data's venue differ",
            details=[{"field": f"{where}.venue_id", "message": "differs from the job's venue_id"}],
        )
    return dataclasses.replace(spec, payload=payload, venue_id=spec.venue_id or venue)


def read(model: type[Model], payload: dict[str, Any]) -> Model:
    """A handler's view of its job's payload; a payload the model refuses fails the job for good
    (it was stored before validation existed, or written beside the engine)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(d["field"] for d in _details(exc, "payload"))
        raise PermanentJobError(f"invalid payload: {fields}") from None
