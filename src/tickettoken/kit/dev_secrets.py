"""Per-checkout random secrets for development only.

Outside development a missing secret is a start-up error (see ``Settings.validate_for_startup``).
In development, instead of a hard-coded fallback that every installation would share, each
checkout generates its own random secret once and keeps it in the local state directory, so that
every process started from that checkout (services, workers, ``tickettoken token``) agrees on it.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path


def state_dir() -> Path:
    path = Path(os.environ.get("TICKETTOKEN_HOME", ".tickettoken")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def dev_secret(name: str, nbytes: int = 32) -> str:
    """Return this checkout's development secret ``name``, creating it on first use."""
    path = state_dir() / "generated-secrets.json"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        if name not in data:
            data[name] = secrets.token_urlsafe(nbytes)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.chmod(tmp, 0o600)
            tmp.replace(path)
        return data[name]
