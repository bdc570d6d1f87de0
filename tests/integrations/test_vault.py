"""The vault: AES-256-GCM values carry their key version, several keys decrypt, a value moved to
another row does not, ENCRYPTION_KEY's format is checked at start-up, and `vault rotate` leaves
every row on the newest key with the same secrets; a pg_dump holds no secret in plaintext."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from tests.support import make_settings, migrated_scratch_database

from tickettoken.integrations.models import OAuthToken, VenueApiKey
from tickettoken.integrations.vault.rotate import count_due, rotate
from tickettoken.integrations.vault.sealed import seal, unseal
from tickettoken.kit.settings import ConfigurationError
from tickettoken.kit.vault import Vault, VaultError, parse_key_list, vault_for


def _key() -> bytes:
    return os.urandom(32)


# The keys of the module's database, oldest first: each test adds rows under KEYS[0].
KEYS = (os.urandom(32), os.urandom(32), os.urandom(32))


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_values_carry_their_version_and_bind_their_place() -> None:
    old, new = _key(), _key()
    v1 = Vault({1: old})
    sealed = v1.encrypt("sk_live_secret", "ctx-a")
    assert sealed.startswith("v1:") and "sk_live_secret" not in sealed
    both = Vault({1: old, 2: new})
    assert both.current_version == 2
    assert both.decrypt(sealed, "ctx-a") == "sk_live_secret"
    assert both.encrypt("x", "ctx-a").startswith("v2:")
    with pytest.raises(VaultError):
        both.decrypt(sealed, "ctx-b")  # moved to another row
    with pytest.raises(VaultError):
        Vault({2: new}).decrypt(sealed, "ctx-a")  # old key removed
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(VaultError):
        both.decrypt(tampered, "ctx-a")
    assert both.reencrypt(sealed, "ctx-a").startswith("v2:")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not base64!", "not '<version>:<base64 key>'"),
        (_b64(b"short"), "must be 32 bytes"),
        (f"1:{_b64(os.urandom(32))},1:{_b64(os.urandom(32))}", "version 1 twice"),
        (f"{_b64(os.urandom(32))},2:{_b64(os.urandom(32))}", "has no version"),
    ],
    # fixed ids: the random keys would give each pytest-xdist worker different test names
    ids=["empty", "not-base64", "short", "version-twice", "no-version"],
)
def test_malformed_keys_are_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_key_list(text)
    assert "=" not in str(caught.value) or text == ""  # key material never in the message


def test_key_list_and_single_key() -> None:
    one, two = _key(), _key()
    assert parse_key_list(_b64(one)) == {1: one}
    urlsafe = base64.urlsafe_b64encode(two).decode().rstrip("=")
    assert parse_key_list(f"2:{urlsafe}, 1:{_b64(one)}") == {2: two, 1: one}


def test_startup_refuses_a_malformed_key_and_production_without_one() -> None:
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY"):
        make_settings(encryption_key="2:abc").validate_for_startup()
    production = make_settings(environment="production", jwt_secret="x" * 64)
    with pytest.raises(ConfigurationError, match="ENCRYPTION_KEY is required"):
        production.validate_for_startup()
    with pytest.raises(ConfigurationError, match="required in staging"):
        vault_for(make_settings(environment="staging", jwt_secret="x" * 64))
    make_settings(encryption_key=_b64(_key())).validate_for_startup()


def test_development_derives_a_key_per_checkout(tmp_path: object, monkeypatch: object) -> None:
    vault = vault_for(make_settings())
    assert vault.current_version == 1
    assert vault.decrypt(vault.encrypt("s", "c"), "c") == "s"


@pytest.fixture(scope="module")
async def vault_db(pg_server_url: str) -> AsyncIterator[str]:
    async with migrated_scratch_database(pg_server_url, "tt_vault") as url:
        yield url


async def _store_secrets(url: str, vault: Vault, count: int) -> dict[str, str]:
    """Rows of both sealed tables; returns every plaintext secret stored, by a label."""
    engine = create_async_engine(url)
    plaintexts: dict[str, str] = {}
    try:
        async with async_sessionmaker(engine)() as session, session.begin():
            for index in range(count):
                venue = uuid.uuid4()
                access = f"qb-access-{secrets.token_hex(16)}"
                refresh = f"qb-refresh-{secrets.token_hex(16)}"
                api_key = f"sk_test_{secrets.token_hex(16)}"
                plaintexts.update(
                    {f"access{index}": access, f"refresh{index}": refresh, f"key{index}": api_key}
                )
                session.add(
                    OAuthToken(
                        venue_id=venue,
                        integration_type="quickbooks",
                        encrypted_access_token=seal(
                            vault,
                            "oauth_tokens",
                            "encrypted_access_token",
                            venue,
                            "quickbooks",
                            access,
                        ),
                        encrypted_refresh_token=seal(
                            vault,
                            "oauth_tokens",
                            "encrypted_refresh_token",
                            venue,
                            "quickbooks",
                            refresh,
                        ),
                        encryption_key_version=vault.current_version,
                    )
                )
                session.add(
                    VenueApiKey(
                        venue_id=venue,
                        integration_type="stripe",
                        encrypted_api_key=seal(
                            vault, "venue_api_keys", "encrypted_api_key", venue, "stripe", api_key
                        ),
                        encryption_key_version=vault.current_version,
                    )
                )
    finally:
        await engine.dispose()
    return plaintexts


def _pg_dump(url: str) -> str:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    command = [
        "pg_dump",
        "--data-only",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        parts.path.lstrip("/"),
    ]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


async def test_dump_holds_no_plaintext_and_rotation_moves_every_row(vault_db: str) -> None:
    old, new = KEYS[0], KEYS[1]
    v1 = Vault({1: old})
    plaintexts = await _store_secrets(vault_db, v1, 30)

    dump = await asyncio.to_thread(_pg_dump, vault_db)
    assert "v1:" in dump  # the rows are in the dump, sealed
    leaked = [label for label, secret in plaintexts.items() if secret in dump]
    assert not leaked, f"plaintext secrets in pg_dump: {leaked}"

    rotated = Vault({2: new, 1: old})
    engine = create_async_engine(vault_db)
    try:
        assert sum((await count_due(engine, rotated)).values()) >= 60
        seen: list[tuple[str, int]] = []
        report = await rotate(
            engine, rotated, batch_size=7, progress=lambda t, n: seen.append((t, n))
        )
        assert report.rewritten["oauth_tokens"] >= 30 and not any(report.busy.values())
        assert seen and all(n <= 7 for _, n in seen)
        assert sum((await count_due(engine, rotated)).values()) == 0
        again = await rotate(engine, rotated)  # safe to re-run: nothing left to do
        assert sum(again.rewritten.values()) == 0

        only_new = Vault({2: new})  # the old key can now be removed
        async with async_sessionmaker(engine)() as session:
            tokens = (await session.scalars(select(OAuthToken))).all()
            keys = (await session.scalars(select(VenueApiKey))).all()
        assert {t.encryption_key_version for t in tokens} == {2}
        assert {k.encryption_key_version for k in keys} == {2}
        decrypted = {
            unseal(
                only_new,
                "oauth_tokens",
                "encrypted_access_token",
                t.venue_id,
                t.integration_type,
                t.encrypted_access_token,
            )
            for t in tokens
        } | {
            unseal(
                only_new,
                "venue_api_keys",
                "encrypted_api_key",
                k.venue_id,
                k.integration_type,
                k.encrypted_api_key,
            )
            for k in keys
        }
        assert {
            s for label, s in plaintexts.items() if not label.startswith("refresh")
        } <= decrypted
    finally:
        await engine.dispose()
    dump = await asyncio.to_thread(_pg_dump, vault_db)
    assert not [label for label, secret in plaintexts.items() if secret in dump]


async def test_the_rotate_command(vault_db: str) -> None:
    old, new = KEYS[0], KEYS[2]
    await _store_secrets(vault_db, Vault({1: old}), 3)
    env = {
        **os.environ,
        "DATABASE_URL": vault_db,
        "ENCRYPTION_KEY": f"3:{_b64(new)},2:{_b64(KEYS[1])},1:{_b64(old)}",
        "PYTHONPATH": os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH")])),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tickettoken", "vault", "rotate", "--batch-size", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "re-encrypted under key version 3" in done.stderr
    engine = create_async_engine(vault_db)
    try:
        assert sum((await count_due(engine, Vault({3: new}))).values()) == 0
    finally:
        await engine.dispose()
