"""Every column of the integration tables that holds a secret, and how its values are bound.

A value is sealed with associated data naming its table, column, venue and provider, so a
ciphertext moved to another row does not decrypt. ``SEALED_TABLES`` is the list that
``tickettoken vault rotate`` walks: a new secret column is added here, nowhere else.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tickettoken.kit.vault import Vault


@dataclass(frozen=True)
class SealedTable:
    table: str
    columns: tuple[str, ...]
    version_column: str = "encryption_key_version"


SEALED_TABLES: tuple[SealedTable, ...] = (
    SealedTable("oauth_tokens", ("encrypted_access_token", "encrypted_refresh_token")),
    SealedTable("venue_api_keys", ("encrypted_api_key", "encrypted_api_secret")),
)


def context(table: str, column: str, venue_id: uuid.UUID | str, provider: str) -> str:
    return f"tickettoken:{table}.{column}:{venue_id}:{provider}"


def seal(
    vault: Vault, table: str, column: str, venue_id: uuid.UUID, provider: str, secret: str
) -> str:
    return vault.encrypt(secret, context(table, column, venue_id, provider))


def seal_optional(
    vault: Vault,
    table: str,
    column: str,
    venue_id: uuid.UUID,
    provider: str,
    secret: str | None,
) -> str | None:
    return None if secret is None else seal(vault, table, column, venue_id, provider, secret)


def unseal(
    vault: Vault, table: str, column: str, venue_id: uuid.UUID, provider: str, stored: str
) -> str:
    return vault.decrypt(stored, context(table, column, venue_id, provider))


def unseal_optional(
    vault: Vault,
    table: str,
    column: str,
    venue_id: uuid.UUID,
    provider: str,
    stored: str | None,
) -> str | None:
    return None if stored is None else unseal(vault, table, column, venue_id, provider, stored)
