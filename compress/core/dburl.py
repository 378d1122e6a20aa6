"""Database URLs shared by the history (compress.history) and the search (compress.search).

A plain path or a ``file:`` URL names an SQLite file; any other URL goes to SQLAlchemy as it
is (``sqlite:///...``, ``postgresql://user:password@host/db``, ``mysql+pymysql://...``).
``postgresql://`` (or ``postgres://``) without a driver means psycopg 3, the driver the
``report`` and ``search`` extras install: SQLAlchemy's own default, psycopg2, is not installed.
Messages name the host (or the SQLite file) and never the password.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
POSTGRES_DRIVER = "postgresql+psycopg"


def database_url(text: str | Path) -> str:
    """The SQLAlchemy URL for ``text``: a path or ``file:`` URL becomes an SQLite URL."""
    text = str(text)
    if text.startswith("file:"):
        return f"sqlite:///{unquote(urlparse(text).path)}"
    if not SCHEME.match(text) or re.match(r"^[A-Za-z]:[\\/]", text):  # a path (or C:\ ...)
        return f"sqlite:///{text}"
    scheme, rest = text.split(":", 1)
    if scheme in ("postgresql", "postgres"):
        return f"{POSTGRES_DRIVER}:{rest}"
    return text


def sqlite_path(url: str) -> Path | None:
    """The file an SQLite URL names; None for another database or an in-memory one."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0])


def where(url: str) -> str:
    """The database as messages name it: the SQLite file, or host:port/database (no password)."""
    path = sqlite_path(url)
    if path is not None:
        return str(path)
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # not even a URL: say what was given, up to its credentials
        return url.rsplit("@", 1)[-1]
    host = parsed.host or parsed.query.get("host") or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.get_backend_name()} at {host}{port}/{parsed.database or ''}"


def describe(url: str, err: BaseException) -> str:
    """One line: where the database is, and the driver's own error (its first line)."""
    cause = getattr(err, "orig", None) or err  # SQLAlchemy wraps the driver's exception
    lines = str(cause).strip().splitlines()
    text = lines[0].strip() if lines else ""
    if isinstance(cause, ModuleNotFoundError):  # SQLAlchemy's default driver for the scheme
        text += " (install a driver and name it in the URL, e.g. mysql+pymysql://)"
    return f"cannot open the database {where(url)}: {type(cause).__name__}: {text}"
