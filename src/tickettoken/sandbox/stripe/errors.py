"""Stripe's JSON error object, so the SDK raises the same exception classes it raises for Stripe.

Fields and doc URLs follow Stripe's published error reference: ``type``, ``code``, ``param``,
``decline_code``, ``payment_intent``, ``doc_url``, ``message``; absent fields are left out, as
Stripe does.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An answer in Stripe's error shape (``{"error": {...}}``) with its HTTP status."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        code: str | None = None,
        *,
        param: str | None = None,
        decline_code: str | None = None,
        payment_intent: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.code = status, kind, message, code
        self.param, self.decline_code, self.payment_intent = param, decline_code, payment_intent
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.kind, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        for name in ("param", "decline_code", "payment_intent"):
            value = getattr(self, name)
            if value is not None:
                error[name] = value
        return {"error": error}


def invalid(message: str, code: str | None = None, param: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code, param=param)


def missing_param(name: str) -> StripeError:
    return invalid(f"Missing required param: {name}.", "parameter_missing", name)


def unknown_param(name: str) -> StripeError:
    return invalid(f"Received unknown parameter: {name}", "parameter_unknown", name)


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        "resource_missing",
        param=param,
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    """What Stripe answers for a path or method it does not serve (404, no code)."""
    return StripeError(
        404,
        "invalid_request_error",
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we"
        " can help at https://support.stripe.com/.",
    )


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here"
        " https://stripe.com/docs/rate-limits.",
        "rate_limit",
        headers={"Stripe-Should-Retry": "true", "Stripe-Rate-Limited-Reason": "global-rate"},
    )


def unauthenticated(given: str | None) -> StripeError:
    if not given:
        message = (
            "You did not provide an API key. You need to provide your API key in the"
            " Authorization header, using Bearer auth (e.g. 'Authorization: Bearer"
            " YOUR_SECRET_KEY')."
        )
    else:
        message = f"Invalid API Key provided: {given[:8]}{'*' * 12}{given[-4:]}"
    return StripeError(401, "invalid_request_error", message)
