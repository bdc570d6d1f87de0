"""Secrets at rest: AES-256-GCM with versioned keys (SPEC 5.3; see
docs/decisions/integration-connections.md).

A stored value is ``v<N>:<base64url(nonce || ciphertext || tag)>``: the key version travels with
every value, so several keys can be in use at once (the newest encrypts, all decrypt) and
``tickettoken vault rotate`` can re-encrypt everything under the newest one without a flag day.
Each value is bound to where it lives by the associated data (``context``, e.g. table, column,
venue and provider): a ciphertext copied into another venue's row does not decrypt.

Keys come from a ``KeyProvider``. The one built in reads ``ENCRYPTION_KEY``: one base64 key of
32 bytes (version 1) or a list ``"2:<base64>,1:<base64>"``. Another provider (a cloud KMS that
unwraps data keys) is named by ``ENCRYPTION_KEY_PROVIDER=module:factory``; the factory takes the
settings and returns a provider. In development without a key, each checkout derives its own
random key (kit/dev_secrets.py); elsewhere a missing key is a start-up error.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tickettoken.kit.dev_secrets import dev_secret
from tickettoken.kit.settings import ConfigurationError, Environment, Settings

KEY_BYTES = 32
NONCE_BYTES = 12
_VERSIONED = re.compile(r"^v([1-9][0-9]{0,8}):([A-Za-z0-9_-]+={0,2})$")
_ENTRY = re.compile(r"^\s*(?:([1-9][0-9]{0,8})\s*:)?\s*([A-Za-z0-9+/_-]+={0,2})\s*$")


class VaultError(Exception):
    """A value that cannot be decrypted: unknown key version, tampered or misplaced."""


class KeyProvider(Protocol):
    """Where the vault's keys come from: version -> 32-byte key (at least one)."""

    def keys(self) -> Mapping[int, bytes]: ...


def parse_key_list(text: str) -> dict[int, bytes]:
    """``ENCRYPTION_KEY``'s keys by version; ``ConfigurationError`` saying what is wrong.

    Accepted: ``<base64>`` (version 1) or ``<version>:<base64>[,<version>:<base64>...]``, each key
    32 bytes in standard or URL-safe base64. The key material never appears in the message.
    """
    entries = [entry for entry in text.split(",") if entry.strip()]
    if not entries:
        raise ConfigurationError("ENCRYPTION_KEY is empty")
    keys: dict[int, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        match = _ENTRY.match(entry)
        if match is None:
            raise ConfigurationError(
                f"ENCRYPTION_KEY entry {position} is not '<version>:<base64 key>' "
                "(e.g. '2:<base64>,1:<base64>')"
            )
        if match.group(1) is None and len(entries) > 1:
            raise ConfigurationError(
                f"ENCRYPTION_KEY entry {position} has no version: with several keys, "
                "write each as '<version>:<base64 key>'"
            )
        version = int(match.group(1) or 1)
        if version in keys:
            raise ConfigurationError(f"ENCRYPTION_KEY names version {version} twice")
        keys[version] = _decode_key(match.group(2), f"ENCRYPTION_KEY version {version}")
    return keys


def _decode_key(text: str, what: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(
            f"{what} must be {KEY_BYTES} bytes (AES-256) once base64-decoded, not {len(raw)}"
        )
    return raw


def new_key_text() -> str:
    """A fresh random key in ENCRYPTION_KEY's encoding (for operators adding a version)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True)
class EnvKeyProvider:
    """Keys from ``ENCRYPTION_KEY``; in development without it, this checkout's own key."""

    settings: Settings

    def keys(self) -> Mapping[int, bytes]:
        if self.settings.encryption_key:
            return parse_key_list(self.settings.encryption_key)
        if self.settings.environment is Environment.DEVELOPMENT:
            return {1: _decode_key(dev_secret("ENCRYPTION_KEY"), "the development key")}
        raise ConfigurationError(
            f"ENCRYPTION_KEY is required in {self.settings.environment.value}: "
            "secrets at rest cannot be encrypted without it"
        )


class Vault:
    """Encrypts with the newest key; decrypts with whichever version a value names."""

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise ConfigurationError("the key provider gave no encryption key")
        for version, key in keys.items():
            if version < 1 or len(key) != KEY_BYTES:
                raise ConfigurationError(f"encryption key version {version} is not AES-256")
        self._ciphers = {version: AESGCM(bytes(key)) for version, key in keys.items()}
        self.current_version = max(keys)
        self.versions = frozenset(keys)

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current_version].encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"v{self.current_version}:{body}"

    def decrypt(self, stored: str, context: str) -> str:
        version, body = self._split(stored)
        cipher = self._ciphers.get(version)
        if cipher is None:
            raise VaultError(f"no key of version {version} is configured")
        try:
            raw = base64.urlsafe_b64decode(body)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise VaultError("the value does not decrypt here (tampered or moved)") from exc

    def reencrypt(self, stored: str, context: str) -> str:
        """The same secret under the newest key (unchanged if already there)."""
        if self.version_of(stored) == self.current_version:
            return stored
        return self.encrypt(self.decrypt(stored, context), context)

    @staticmethod
    def version_of(stored: str) -> int:
        return Vault._split(stored)[0]

    @staticmethod
    def _split(stored: str) -> tuple[int, str]:
        match = _VERSIONED.match(stored)
        if match is None:
            raise VaultError("not a vault value (expected 'v<N>:...')")
        return int(match.group(1)), match.group(2)


KeyProviderFactory = Callable[[Settings], KeyProvider]


def key_provider(settings: Settings) -> KeyProvider:
    """The provider ``ENCRYPTION_KEY_PROVIDER`` names (``module:factory``), else the env one."""
    spec = (settings.encryption_key_provider or "").strip()
    if not spec or spec == "env":
        return EnvKeyProvider(settings)
    module_name, _, attribute = spec.partition(":")
    try:
        factory: KeyProviderFactory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(
            f"ENCRYPTION_KEY_PROVIDER {spec!r} is not 'module:factory'"
        ) from exc
    return factory(settings)


_VAULTS: dict[tuple[str | None, str, str], Vault] = {}


def vault_for(settings: Settings) -> Vault:
    """The process's vault for these settings, built once per key configuration."""
    cache_key = (
        settings.encryption_key,
        settings.environment.value,
        settings.encryption_key_provider or "",
    )
    vault = _VAULTS.get(cache_key)
    if vault is None:
        vault = _VAULTS[cache_key] = Vault(key_provider(settings).keys())
    return vault


def check_vault_configuration(settings: Settings) -> None:
    """Build the vault now, so a bad or missing key stops the service at start-up."""
    vault_for(settings)
