"""Webhook routes (SPEC 5.2), under ``/api/v1/integrations``.

The provider routes are public (providers carry no bearer token): the signature is the
authentication. Each reads ``await request.body()`` before anything parses it, verifies those
bytes, stores the events once and answers at once; the work is a queued ``webhook`` job.
Listing and retrying need a token and act on the caller's venue only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute

from tickettoken.integrations.connections.service import scoped_venue
from tickettoken.integrations.webhooks import parsing, repository, secrets, signatures
from tickettoken.integrations.webhooks.intake import Stored, intake_for
from tickettoken.integrations.webhooks.parsing import InboundEvent, MalformedDelivery
from tickettoken.integrations.webhooks.repository import Incoming
from tickettoken.integrations.webhooks.schemas import (
    MailchimpValidation,
    RetryBody,
    RetryResult,
    WebhookEventView,
    WebhookProvider,
    WebhookReceipt,
    WebhookStatus,
)
from tickettoken.integrations.webhooks.signatures import SignatureRefused
from tickettoken.kit.auth import Caller
from tickettoken.kit.contracts import AUTHENTICATED, COMMON_ERRORS, Ok, Page, errors
from tickettoken.kit.db import DbSession, get_database
from tickettoken.kit.errors import BadRequest, Unauthorized
from tickettoken.kit.pagination import PageParams, ok, page_params, paginated
from tickettoken.kit.settings import Settings

PREFIX = "/api/v1/integrations/webhooks"
KEPT_HEADERS = ("content-type", "user-agent")
JSON = "application/json"

log = structlog.get_logger(__name__)

public_router = APIRouter(prefix=PREFIX, tags=["integrations: webhooks"], responses=COMMON_ERRORS)
router = APIRouter(
    prefix=PREFIX,
    tags=["integrations: webhooks"],
    responses={**COMMON_ERRORS, **AUTHENTICATED},
)
DELIVERY = errors(
    **{
        "400": "Signed, but not the provider's payload",
        "401": "Missing, malformed, stale or wrong signature (nothing is stored)",
        "413": "Body too large",
    }
)


Delivery = Callable[[Request], Coroutine[Any, Any, Response]]


class DeliveryRoute(APIRoute):
    """A provider's delivery route: its endpoint takes the request and returns the finished
    answer, and nothing else runs between routing and the endpoint.

    FastAPI's own per-request handler (dependency solving, response validation and
    serialisation) cost as much CPU as verifying and storing a delivery, and the last of 200
    deliveries arriving at once is answered after the CPU of all 200. ``response_model`` and
    ``responses`` stay declared for the OpenAPI contract; ``_receipt`` builds the answer from
    that same model. Errors raised by the endpoint reach the error handlers as before.
    """

    def get_route_handler(self) -> Delivery:
        d = self.dependant
        params = d.path_params + d.query_params + d.header_params + d.cookie_params
        if params or d.body_params or d.dependencies or not d.request_param_name:
            raise TypeError(f"{self.path}: a delivery endpoint takes the Request only")
        return cast(Delivery, self.endpoint)


def _delivery(path: str) -> Callable[[Delivery], Delivery]:
    """Register a provider's ``POST`` delivery endpoint on ``public_router``."""

    def register(endpoint: Delivery) -> Delivery:
        public_router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=Ok[WebhookReceipt],
            responses=DELIVERY,
            route_class_override=DeliveryRoute,
        )
        return endpoint

    return register


@lru_cache(maxsize=64)
def _receipt_body(received: int, duplicates: int) -> bytes:
    receipt = WebhookReceipt(received=received, duplicates=duplicates)
    return Ok[WebhookReceipt](data=receipt).model_dump_json().encode()


def _receipt(stored: Stored) -> Response:
    return Response(_receipt_body(stored.received, stored.duplicates), 200, None, JSON)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _secret(request: Request, name: str, provider: str) -> str:
    secret = secrets.webhook_secret(_settings(request), name)
    if not secret:
        log.error("webhook_secret_missing", provider=provider, setting=name.upper())
        raise _refused(provider, "no secret configured")
    return secret


def _refused(provider: str, reason: str) -> Unauthorized:
    log.warning("webhook_refused", provider=provider, reason=reason)
    return Unauthorized("Webhook signature verification failed", headers={})


async def _accept(
    request: Request,
    provider: str,
    events: list[InboundEvent],
    signature: str | None,
    venue_id: str | None = None,
) -> Stored:
    headers = {k: request.headers[k] for k in KEPT_HEADERS if k in request.headers}
    items = [Incoming(provider, event, headers, signature, venue_id) for event in events]
    return await intake_for(request.app, get_database(request)).submit(items)


def _parse(provider: str, parse: Any, body: bytes) -> list[InboundEvent]:
    try:
        events: list[InboundEvent] = parse(body)
    except MalformedDelivery as exc:
        log.warning("webhook_malformed", provider=provider, reason=str(exc))
        raise BadRequest(f"Not a {provider} webhook payload: {exc}") from exc
    return events


@_delivery("/stripe")
async def stripe_webhook(request: Request) -> Response:
    body = await request.body()
    header = request.headers.get("stripe-signature")
    try:
        signatures.verify_stripe(_secret(request, "stripe_webhook_secret", "stripe"), body, header)
    except SignatureRefused as exc:
        raise _refused("stripe", str(exc)) from exc
    events = _parse("stripe", parsing.stripe_events, body)
    return _receipt(await _accept(request, "stripe", events, header))


@_delivery("/square")
async def square_webhook(request: Request) -> Response:
    body = await request.body()
    header = request.headers.get("x-square-hmacsha256-signature")
    key = _secret(request, "square_webhook_signature_key", "square")
    try:
        signatures.verify_square(
            key, secrets.square_notification_url(_settings(request)), body, header
        )
    except SignatureRefused as exc:
        raise _refused("square", str(exc)) from exc
    events = _parse("square", parsing.square_events, body)
    return _receipt(await _accept(request, "square", events, header))


@_delivery("/quickbooks")
async def quickbooks_webhook(request: Request) -> Response:
    body = await request.body()
    header = request.headers.get("intuit-signature")
    try:
        signatures.verify_quickbooks(
            _secret(request, "quickbooks_webhook_token", "quickbooks"), body, header
        )
    except SignatureRefused as exc:
        raise _refused("quickbooks", str(exc)) from exc
    events = _parse("quickbooks", parsing.quickbooks_events, body)
    return _receipt(await _accept(request, "quickbooks", events, header))


@_delivery("/mailchimp")
async def mandrill_webhook(request: Request) -> Response:
    """Mailchimp Transactional (Mandrill): form field ``mandrill_events``, signed."""
    body = await request.body()
    header = request.headers.get("x-mandrill-signature")
    try:
        params = signatures.mandrill_params(body)
        signatures.verify_mandrill(
            _secret(request, "mandrill_webhook_key", "mailchimp"),
            secrets.mandrill_url(_settings(request)),
            params,
            header,
        )
    except SignatureRefused as exc:
        raise _refused("mailchimp", str(exc)) from exc
    events = _parse("mailchimp", parsing.mandrill_events, body)
    return _receipt(await _accept(request, "mailchimp", events, header))


@public_router.get("/mailchimp", response_model=Ok[MailchimpValidation])
@public_router.head("/mailchimp", response_model=Ok[MailchimpValidation], include_in_schema=False)
async def mailchimp_validation() -> dict[str, Any]:
    """Mailchimp (GET) and Mandrill (HEAD) check that a webhook URL answers before saving it."""
    return ok(MailchimpValidation())


def _venue_of_token(request: Request, token: str) -> str:
    secret = _secret(request, "mailchimp_webhook_secret", "mailchimp")
    try:
        venue_id = signatures.verify_mailchimp_token(secret, token)
        uuid.UUID(venue_id)
    except (SignatureRefused, ValueError) as exc:
        raise _refused("mailchimp", "unknown path token") from exc
    return venue_id


@public_router.get(
    "/mailchimp/{token}",
    response_model=Ok[MailchimpValidation],
    responses=errors(**{"401": "Unknown path token"}),
)
@public_router.head(
    "/mailchimp/{token}", response_model=Ok[MailchimpValidation], include_in_schema=False
)
async def mailchimp_audience_validation(request: Request, token: str) -> dict[str, Any]:
    _venue_of_token(request, token)
    return ok(MailchimpValidation())


@public_router.post("/mailchimp/{token}", response_model=Ok[WebhookReceipt], responses=DELIVERY)
async def mailchimp_audience_webhook(request: Request, token: str) -> dict[str, Any]:
    """An audience webhook (unsigned; the secret path token names and proves the venue)."""
    venue_id = _venue_of_token(request, token)
    body = await request.body()
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        event = parsing.mailchimp_audience_event(fields)
    except (UnicodeDecodeError, ValueError, MalformedDelivery) as exc:
        raise BadRequest("Not a Mailchimp audience webhook payload") from exc
    stored = await _accept(request, "mailchimp", [event], None, venue_id=venue_id)
    return ok(WebhookReceipt(received=stored.received, duplicates=stored.duplicates))


# --- venue routes ------------------------------------------------------------------------------


@router.get("/{provider}/events", response_model=Page[WebhookEventView], responses=errors(400, 404))
async def list_webhook_events(
    provider: WebhookProvider,
    session: DbSession,
    principal: Caller,
    page: Annotated[PageParams, Depends(page_params)],
    venue_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[WebhookStatus | None, Query()] = None,
) -> dict[str, Any]:
    venue = scoped_venue(principal, venue_id, manage=False)
    rows, total = await repository.list_events(
        session, provider, venue, status, page.offset, page.limit
    )
    views = [
        WebhookEventView(provider=row.pop("integration_type"), **row).model_dump(mode="json")
        for row in rows
    ]
    return paginated(views, page, total)


@router.post("/retry", response_model=Ok[RetryResult], responses=errors(400, 404, 413))
async def retry_failed_webhooks(
    body: RetryBody, session: DbSession, principal: Caller
) -> dict[str, Any]:
    venue = scoped_venue(principal, body.venue_id, manage=True)
    ids = await repository.requeue_failed(session, venue, body.provider, body.limit)
    return ok(RetryResult(requeued=len(ids), webhook_ids=ids))
