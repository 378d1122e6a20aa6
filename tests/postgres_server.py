"""A throwaway PostgreSQL server for the tests that need a real one (tests/test_shared_db.py).

Debian's ``postgresql`` package (``.ci/run`` installs it where apt can) puts the server under
/usr/lib/postgresql/<version>/bin. The server runs in a temporary folder on a free localhost
port with password authentication (so wrong credentials can be tested), fsync off (its data
is thrown away). initdb refuses root: as root it runs as the ``postgres`` user the package
creates. ``start`` raises Unavailable, saying why, where it cannot run; the tests then skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD = "compress", "bench-secret"


class Unavailable(RuntimeError):
    """No PostgreSQL server can run here (the message says why)."""


def binaries() -> Path | None:
    """The newest PostgreSQL server's bin folder, or the one initdb is found in on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def free_port() -> int:
    """A localhost TCP port nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: its folder, port and how to reach it."""

    folder: Path
    port: int
    bin: Path
    as_user: list[str]

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """An SQLAlchemy URL (psycopg 3) for ``database`` on this server."""
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        dsn = f"host=127.0.0.1 port={self.port} user={USER} password={PASSWORD} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        pg_ctl = [str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate"]
        subprocess.run([*self.as_user, *pg_ctl, "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        raise Unavailable(f"{what} failed: {last[0]}")


def _owner() -> tuple[list[str], int | None]:
    """The command prefix that runs the server unprivileged, and the uid to own its folder."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        raise Unavailable("running as root, and there is no 'postgres' user to run it") from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("running as root, and runuser is missing")
    return [runuser, "-u", "postgres", "--"], uid


def start() -> Server:
    """Start a server; raises Unavailable (saying why) where it cannot run."""
    try:
        import psycopg  # noqa: F401  (the driver the URLs name)
    except ImportError:
        raise Unavailable("psycopg is not installed (pip install 'psycopg[binary]')") from None
    bin_dir = binaries()
    if bin_dir is None:
        raise Unavailable("no PostgreSQL server (apt-get install postgresql; .ci/run does)")
    as_user, uid = _owner()
    folder = Path(tempfile.mkdtemp(prefix="compress-pg-"))
    (folder / "password").write_text(PASSWORD)
    if uid is not None:
        for path in (folder, folder / "password"):
            os.chown(path, uid, -1)
    port = free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", USER, "-E", "UTF8",
              "--pwfile", str(folder / "password"), "--auth-local=trust",
              "--auth-host=scram-sha-256", "--no-sync", "--locale=C"]  # fmt: skip
    options = (f"-p {port} -k {folder} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=60")  # fmt: skip
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "log"),
              "-w", "-t", "60", "-o", options, "start"]  # fmt: skip
    try:
        _run([*as_user, *initdb], "initdb")
        _run([*as_user, *pg_ctl], "pg_ctl start")
    except (Unavailable, OSError, subprocess.TimeoutExpired) as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(str(err)) from err
    return Server(folder, port, bin_dir, as_user)
