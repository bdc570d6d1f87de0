"""App credentials and signing secrets of the emulated providers, derived from the sandbox's key.

Derived rather than random so a restarted sandbox with the same key keeps the same client ids,
client secrets and webhook secrets, and the platform's configuration stays valid across runs;
``GET /`` lists them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def derived(secret_key: str, purpose: str, length: int = 22) -> str:
    """A stable URL-safe credential for ``purpose``, unguessable without the sandbox's key."""
    digest = hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]
