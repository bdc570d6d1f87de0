"""Settings from the environment (SPEC section 2), with the same variable names as the original.

One `Settings` object per process, read once. Production refuses to start with missing or weak
secrets instead of falling back to a built-in default (AUDIT: hard-coded fallback secrets).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Literal
from urllib.parse import quote

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_JWT_SECRET_LENGTH = 32

# Default ports of the original platform (SPEC section 2).
SERVICE_PORTS: dict[str, int] = {
    "gateway": 3000,
    "auth": 3001,
    "venue": 3002,
    "event": 3003,
    "ticket": 3004,
    "payment": 3005,
    "marketplace": 3006,
    "analytics": 3007,
    "notification": 3008,
    "integration": 3009,
    "compliance": 3010,
    "queue": 3011,
    "search": 3012,
    "file": 3013,
    "monitoring": 3014,
    "blockchain": 3015,
    "order": 3016,
    "minting": 3018,
    "transfer": 3019,
    "scanning": 3020,
}

# Services this project implements; the others are reached through their configured URLs.
OWN_SERVICES = ("gateway", "event", "integration", "queue")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """Raised at start-up when the configuration cannot be run safely."""


class Settings(BaseSettings):
    """Every variable of SPEC section 2. Names are the environment variable names, lower-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: Environment = Environment.DEVELOPMENT
    port: int | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "pretty"] | None = None
    enable_metrics: bool = True
    # Largest request body any service accepts (413 above it); 1 MB as SPEC section 3 says.
    max_request_body_bytes: int = Field(default=1_048_576, ge=1)

    # Database
    database_url: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_user: str | None = None
    db_password: str | None = None
    db_name: str = "tickettoken_db"
    db_pool_min: int = Field(default=2, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    embedded_pg_dir: str = ".tickettoken/pgdata"

    # Redis
    redis_url: str | None = None
    redis_host: str | None = None
    redis_port: int = 6379
    redis_password: str | None = None
    redis_db: int = 0

    # Auth
    jwt_secret: str | None = None
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "tickettoken"
    jwt_audience: str = "tickettoken-platform"
    jwt_expires_in: str = "15m"
    # Asymmetric tokens (RS256/ES256) from a PEM public key file or a JWKS URL, verified by
    # every service and the gateway (kit/token_keys.py)
    jwt_public_key_file: str | None = None
    jwt_jwks_url: str | None = None
    jwt_public_algorithms: str = "RS256,ES256"
    jwt_jwks_refresh_cooldown_seconds: float = Field(default=10.0, ge=0)

    # Secrets at rest (kit/vault.py): "<base64 32-byte key>" or "2:<base64>,1:<base64>"; or
    # another key provider, "module:factory" (a KMS), instead of the environment
    encryption_key: str | None = None
    encryption_key_provider: str | None = None

    # Rate limiting
    rate_limit_window_ms: int = Field(default=60_000, ge=1)
    rate_limit_max_requests: int = Field(default=100, ge=1)
    # Gateway: ticket purchases (reservation and confirmation POSTs) per user, and the block
    gateway_purchase_limit: int = Field(default=5, ge=1)
    gateway_purchase_window_seconds: float = Field(default=60.0, gt=0)
    gateway_purchase_block_seconds: float = Field(default=300.0, ge=0)

    # Gateway: per-route time budgets (retries included) and circuit breakers
    gateway_timeout_default_seconds: float = Field(default=10.0, gt=0)
    gateway_timeout_payment_seconds: float = Field(default=30.0, gt=0)
    gateway_timeout_minting_seconds: float = Field(default=120.0, gt=0)
    gateway_breaker_window_seconds: int = Field(default=10, ge=1)
    gateway_breaker_min_volume: int = Field(default=20, ge=1)
    gateway_breaker_error_rate: float = Field(default=0.5, gt=0, le=1)
    gateway_breaker_cool_down_seconds: float = Field(default=5.0, gt=0)
    # Gateway: active health checks of every instance, balancing per service
    # ("event=least-connections,queue=random"; others round-robin)
    gateway_health_interval_seconds: float = Field(default=1.0, gt=0)
    gateway_balancing: str = ""
    # The URL other processes reach this instance at; with Redis, the instance registers it
    # (``tickettoken serve`` sets it from --host/--port when it is not given)
    service_advertise_url: str | None = None
    service_registration_ttl_seconds: float = Field(default=10.0, gt=0)
    # Separates the registrations, and the gateway's breakers, rate limits and cache generations,
    # of platforms sharing one Redis (and of parallel test runs)
    service_registry_namespace: str = ""

    # Service discovery
    auth_service_url: str | None = None
    venue_service_url: str | None = None
    event_service_url: str | None = None
    ticket_service_url: str | None = None
    payment_service_url: str | None = None
    marketplace_service_url: str | None = None
    analytics_service_url: str | None = None
    notification_service_url: str | None = None
    integration_service_url: str | None = None
    compliance_service_url: str | None = None
    queue_service_url: str | None = None
    search_service_url: str | None = None
    file_service_url: str | None = None
    monitoring_service_url: str | None = None
    blockchain_service_url: str | None = None
    order_service_url: str | None = None
    scanning_service_url: str | None = None
    minting_service_url: str | None = None
    transfer_service_url: str | None = None

    # Providers
    api_url: str = "http://127.0.0.1:3000"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_base_url: str = "https://api.stripe.com"
    # Connect OAuth has its own host (authorize, token); the sandbox serves both at its root.
    stripe_connect_base_url: str = "https://connect.stripe.com"
    stripe_connect_client_id: str | None = None
    square_app_id: str | None = None
    square_app_secret: str | None = None
    square_webhook_signature_key: str | None = None
    # The public URL the Square subscription was registered with (Square signs URL + body);
    # default: API_URL + /api/v1/integrations/webhooks/square.
    square_webhook_url: str | None = None
    square_base_url: str = "https://connect.squareupsandbox.com"
    mailchimp_client_id: str | None = None
    mailchimp_client_secret: str | None = None
    mandrill_webhook_key: str | None = None
    # The URL the Mandrill webhook was added with (signed); default API_URL + .../webhooks/mailchimp
    mandrill_webhook_url: str | None = None
    # Keys the secret path tokens of Mailchimp audience webhooks (they are unsigned).
    mailchimp_webhook_secret: str | None = None
    # Mailchimp's OAuth host (authorize, token, metadata)
    mailchimp_base_url: str = "https://login.mailchimp.com"
    # The API host of an account; ``{dc}`` is replaced by the data centre of the key or token.
    mailchimp_api_base_url: str = "https://{dc}.api.mailchimp.com"
    quickbooks_client_id: str | None = None
    quickbooks_client_secret: str | None = None
    quickbooks_webhook_token: str | None = None
    quickbooks_base_url: str = "https://sandbox-quickbooks.api.intuit.com"
    # Intuit's OAuth endpoints (appcenter.intuit.com, oauth.platform.intuit.com) come from here.
    quickbooks_discovery_url: str = (
        "https://developer.api.intuit.com/.well-known/openid_sandbox_configuration"
    )
    # Integration: how often each instance looks for connections whose scheduled sync is due
    # (``next_sync_at`` passed); 0 turns the scheduler off (tests that must not see it)
    integration_sync_schedule_seconds: float = Field(default=30.0, ge=0)

    # Job handlers' endpoints (queue service; `tickettoken sandbox` provides local ones).
    # Payments use STRIPE_BASE_URL and STRIPE_SECRET_KEY; minting uses MINTING_SERVICE_URL.
    # SMTP: SMTP_HOST/PORT/USER/PASSWORD/STARTTLS/FROM below.
    sms_api_url: str | None = None
    sms_api_key: str | None = None
    push_api_url: str | None = None
    push_api_key: str | None = None

    # Outgoing mail (email jobs and alert emails) and alert channels
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_from: str = "tickettoken@localhost"
    alert_email_to: str | None = None  # comma-separated recipients of queue alerts
    alert_webhook_url: str | None = None  # queue alerts are POSTed here as JSON (SMS gateway...)

    @model_validator(mode="after")
    def _check_pool(self) -> Settings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("DB_POOL_MIN must not exceed DB_POOL_MAX")
        return self

    # ---- derived values -------------------------------------------------------------------

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "pretty" if self.environment is Environment.DEVELOPMENT else "json"

    @property
    def database_configured(self) -> bool:
        """True when the environment names a database; otherwise the embedded one is used."""
        return bool(self.database_url or self.db_host)

    def sqlalchemy_url(self) -> str | None:
        """The database URL for SQLAlchemy's asyncpg dialect, or None when none is configured."""
        if self.database_url:
            return to_asyncpg_url(self.database_url)
        if self.db_host:
            user = quote(self.db_user or "postgres", safe="")
            auth = user
            if self.db_password:
                auth = f"{user}:{quote(self.db_password, safe='')}"
            return (
                f"postgresql+asyncpg://{auth}@{self.db_host}:{self.db_port}/"
                f"{quote(self.db_name, safe='')}"
            )
        return None

    def redis_dsn(self) -> str | None:
        """The Redis URL, or None when Redis is not configured (in-process fallbacks are used)."""
        if self.redis_url:
            return self.redis_url
        if self.redis_host:
            auth = f":{quote(self.redis_password, safe='')}@" if self.redis_password else ""
            return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"
        return None

    def jwt_lifetime_seconds(self) -> int:
        return parse_duration(self.jwt_expires_in)

    def service_url(self, name: str) -> str | None:
        """Base URL of a service by its short name (``event``, ``queue``...), or None."""
        if name == "venue":
            return self.venue_service_url or self.event_service_url or self._local_url("event")
        configured: str | None = getattr(self, f"{name}_service_url", None)
        if configured:
            return configured.rstrip("/")
        if name in OWN_SERVICES:
            return self._local_url(name)
        return None

    def service_urls(self) -> dict[str, str | None]:
        return {name: self.service_url(name) for name in SERVICE_PORTS if name != "gateway"}

    @staticmethod
    def _local_url(name: str) -> str:
        return f"http://127.0.0.1:{SERVICE_PORTS[name]}"

    def validate_for_startup(self) -> None:
        """Refuse configurations that would run insecurely. Called by every service at start."""
        problems: list[str] = []
        if self.environment is not Environment.DEVELOPMENT:
            if not self.jwt_secret:
                problems.append("JWT_SECRET is required outside development")
            elif len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
                problems.append(
                    f"JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters outside "
                    "development"
                )
        if self.is_production and not (self.encryption_key or self.encryption_key_provider):
            problems.append("ENCRYPTION_KEY is required in production")
        if self.encryption_key:
            from tickettoken.kit.vault import parse_key_list  # the vault imports settings

            try:
                parse_key_list(self.encryption_key)
            except ConfigurationError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigurationError("; ".join(problems))


def to_asyncpg_url(url: str) -> str:
    """Accept the usual ``postgres://`` / ``postgresql://`` spellings and pin the asyncpg driver."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ConfigurationError("DATABASE_URL must be a postgresql:// URL")


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Parse ``15m``, ``1h``, ``30s``, ``7d`` or a bare number of seconds."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    unit = _DURATION_UNITS.get(text[-1:])
    if unit is None or not text[:-1].isdigit():
        raise ConfigurationError(f"not a duration: {text!r} (use 30s, 15m, 1h or 7d)")
    return int(text[:-1]) * unit


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
