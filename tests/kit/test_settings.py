"""Settings: composition of the database URL, service URLs and the production refusals."""

from __future__ import annotations

import pytest

from tickettoken.kit.settings import ConfigurationError, Settings, parse_duration


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_db_parts_compose_an_asyncpg_url_with_escaped_password() -> None:
    settings = make(
        db_host="db.internal",
        db_port=6543,
        db_user="tt",
        db_password="p@ss/word",
        db_name="tickets",
    )
    assert (
        settings.sqlalchemy_url()
        == "postgresql+asyncpg://tt:p%40ss%2Fword@db.internal:6543/tickets"
    )
    assert settings.database_configured


def test_database_url_wins_and_postgres_scheme_is_normalised() -> None:
    settings = make(database_url="postgres://u@h:5432/x", db_host="ignored")
    assert settings.sqlalchemy_url() == "postgresql+asyncpg://u@h:5432/x"


def test_no_database_configured_means_embedded() -> None:
    settings = make()
    assert settings.sqlalchemy_url() is None
    assert not settings.database_configured


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        make(database_url="mysql://u@h/x").sqlalchemy_url()


def test_redis_parts_compose_a_url_and_unset_means_no_redis() -> None:
    assert make().redis_dsn() is None
    assert make(redis_host="cache", redis_password="s3cret", redis_db=2).redis_dsn() == (
        "redis://:s3cret@cache:6379/2"
    )


def test_pool_bounds_are_validated() -> None:
    with pytest.raises(ValueError):
        make(db_pool_min=20, db_pool_max=5)


def test_service_urls_default_to_the_original_ports_and_venue_goes_to_the_event_service() -> None:
    settings = make()
    assert settings.service_url("queue") == "http://127.0.0.1:3011"
    assert settings.service_url("integration") == "http://127.0.0.1:3009"
    assert settings.service_url("venue") == "http://127.0.0.1:3003"
    assert settings.service_url("payment") is None  # not ours and not configured
    configured = make(payment_service_url="http://payments:3005/", event_service_url="http://ev:1")
    assert configured.service_url("payment") == "http://payments:3005"
    assert configured.service_url("venue") == "http://ev:1"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MAX", "25")
    monkeypatch.setenv("JWT_ISSUER", "someone")
    monkeypatch.setenv("QUEUE_SERVICE_URL", "http://q:9")
    settings = make()
    assert settings.db_pool_max == 25
    assert settings.jwt_issuer == "someone"
    assert settings.service_url("queue") == "http://q:9"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"encryption_key": "k" * 43 + "="}, "JWT_SECRET is required"),
        ({"jwt_secret": "short", "encryption_key": "k" * 43 + "="}, "at least 32"),
        ({"jwt_secret": "x" * 40}, "ENCRYPTION_KEY is required"),
    ],
)
def test_production_refuses_to_start_without_strong_secrets(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make(environment="production", **values).validate_for_startup()


def test_production_with_secrets_starts_and_development_needs_none() -> None:
    make(
        environment="production", jwt_secret="x" * 40, encryption_key="k" * 43 + "="
    ).validate_for_startup()
    make(environment="development").validate_for_startup()


def test_staging_also_needs_a_jwt_secret() -> None:
    with pytest.raises(ConfigurationError):
        make(environment="staging").validate_for_startup()


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h", 3600), ("30s", 30), ("7d", 604800), ("120", 120)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="not a duration"):
        parse_duration("soon")


def test_env_example_lists_every_setting() -> None:
    """`.env.example` documents every variable the settings read (kept true by this test)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    missing = {name.upper() for name in Settings.model_fields} - documented
    assert not missing, f"add to .env.example: {sorted(missing)}"
