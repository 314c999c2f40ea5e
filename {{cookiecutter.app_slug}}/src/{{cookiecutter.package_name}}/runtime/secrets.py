"""Resolve a source *name* into a DSN, on the worker, at run time.

Workflow inputs carry only the source name (payloads are visible in the
Temporal UI). The DSN comes from ``SOURCE_<NAME>_DSN`` in the environment or
from a file of that name in the secrets directory (a mounted Kubernetes
Secret). An optional ``SOURCE_<NAME>_PASSWORD`` (env or file) is injected
into the DSN so the password can live in its own secret key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SQLAlchemy is imported lazily: the `extract` CLI never parses a DSN
    from sqlalchemy.engine import URL

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
    "sqlite": "sqlite+aiosqlite",
}


class SourceConfigError(ValueError):
    """The source is not configured, or its DSN is unusable. Never retried."""


def env_key(source: str, suffix: str = "DSN") -> str:
    """Name of the variable (and secret file) that configures ``source``."""
    if not _NAME.match(source):
        raise SourceConfigError(
            f"source name {source!r} is invalid: use a letter then letters, digits or '_'"
        )
    return f"SOURCE_{source.upper()}_{suffix}"


def resolve_source_dsn(source: str, env: Mapping[str, str], secrets_dir: Path) -> tuple[str, str | None]:
    """``source``'s DSN and its separate password, if any; raise a clear error if unset.

    Plain strings: which library parses the DSN is the source's business.
    """
    key = env_key(source)
    raw = _lookup(key, env, secrets_dir)
    if raw is None:
        raise SourceConfigError(
            f"source {source!r} is not configured on this worker: "
            f"set {key} or create the file {secrets_dir / key}"
        )
    return raw, _lookup(env_key(source, "PASSWORD"), env, secrets_dir)


def resolve_source_url(source: str, env: Mapping[str, str], secrets_dir: Path) -> URL:
    """The async SQLAlchemy URL of a SQL ``source``, its password injected."""
    raw, password = resolve_source_dsn(source, env, secrets_dir)
    return sql_url(env_key(source), raw, password)


def sql_url(key: str, raw: str, password: str | None) -> URL:
    """Parse a database DSN (named by the setting ``key`` in errors) into an async SQLAlchemy URL."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise SourceConfigError(
            f"{key} is not a valid database URL; expected dialect://user@host:port/database"
        ) from None
    if password is not None:
        url = url.set(password=password)
    return to_async_url(url)


def resolve_state_store_url(url: str, env: Mapping[str, str], secrets_dir: Path) -> str:
    """``STATE_STORE_URL`` with ``STATE_STORE_PASSWORD`` (env or secret file) injected, if set.

    The URL is a plain setting (it lands in a ConfigMap); the password belongs
    in the mounted secret, like the sources' ``SOURCE_<NAME>_PASSWORD``.
    """
    password = _lookup("STATE_STORE_PASSWORD", env, secrets_dir)
    if password is None:
        return url
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=password).render_as_string(hide_password=False)


def to_async_url(url: URL) -> URL:
    """Swap a plain ``postgresql://`` style URL for its asyncio driver."""
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise SourceConfigError(f"unsupported database {backend!r}; use one of {sorted(_ASYNC_DRIVERS)}")
    if "+" in url.drivername and url.drivername in _ASYNC_DRIVERS.values():
        return url
    return url.set(drivername=_ASYNC_DRIVERS[backend])


# user:password@ up to the *last* @ before the host, so an unencoded '@' in a password can't leak its tail.
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^\s/]*@")
# libpq keyword DSNs (password=...) and JSON-ish "password": "..."
_KEYWORD_PASSWORD = re.compile(r"""(\bpassword\s*=\s*)('[^']*'|"[^"]*"|[^\s,;]+)|("password"\s*:\s*)("[^"]*")""", re.I)


def redact(text: str, *secrets: str) -> str:
    """Hide passwords in DSNs (``user:***@``), ``password=`` pairs and any given secret strings."""
    text = _DSN_PASSWORD.sub(r"\1***@", text)
    text = _KEYWORD_PASSWORD.sub(lambda m: (m.group(1) or m.group(3)) + "***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _lookup(key: str, env: Mapping[str, str], secrets_dir: Path) -> str | None:
    if env.get(key):
        return env[key]
    path = secrets_dir / key
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return None
