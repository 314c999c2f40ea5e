"""Checkpoint store: a versioned key/value table behind SQLAlchemy async.

SQLite (aiosqlite) is the embedded default; PostgreSQL (asyncpg) is the
production choice because every worker replica must see the same state.
Writes are compare-and-set on a version number, so two workers that both
think they own a slice cannot silently overwrite each other.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, delete, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..runtime.secrets import redact, to_async_url

CONNECT_TIMEOUT_S = 10.0  # a PostgreSQL state store that does not answer fails the start, not hangs it
_metadata = MetaData()
checkpoints = Table(
    "extractor_checkpoints",
    _metadata,
    Column("key", String(1024), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class StateStoreError(RuntimeError):
    """The state store cannot be used; the message names ``STATE_STORE_URL`` (password hidden) and why.

    ``config`` is true when the setting itself is wrong, false when the store did not answer.
    """

    def __init__(self, message: str, *, config: bool) -> None:
        super().__init__(message)
        self.config = config


class VersionConflict(RuntimeError):
    """Another writer changed the key since we read it."""


@dataclass(frozen=True)
class Entry:
    version: int
    value: dict[str, Any]


class StateStore:
    """Async versioned key/value store. Create with ``await StateStore.open(url)``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @classmethod
    async def open(cls, url: str) -> StateStore:
        """Connect and create the table if missing (safe to call on every start).

        Raises ``StateStoreError`` with one readable line: a worker that cannot
        keep checkpoints must not start.
        """
        shown = f"STATE_STORE_URL {redact(url)}"
        try:
            engine = _create_engine(url)
        except (ArgumentError, ValueError, ModuleNotFoundError) as exc:
            raise StateStoreError(f"{shown}: {_cause(exc)}; use sqlite+aiosqlite:///path/state.db "
                                  "or postgresql://user@host:5432/db", config=True) from exc
        except OSError as exc:  # SQLite's folder cannot be made
            raise StateStoreError(f"{shown}: cannot create its folder: {_cause(exc)}", config=True) from exc
        try:
            await _create_table(engine)
        except (OSError, DBAPIError, TimeoutError) as exc:
            await engine.dispose()
            raise StateStoreError(f"{shown}: cannot open the state store: {_cause(exc)}", config=False) from exc
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def get(self, key: str) -> Entry | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(checkpoints.c.version, checkpoints.c.value).where(checkpoints.c.key == key)
                )
            ).first()
        return None if row is None else Entry(row.version, json.loads(row.value))

    async def put(self, key: str, value: dict[str, Any], expected_version: int) -> int:
        """Write ``value`` if the stored version is ``expected_version`` (0 = absent).

        Returns the new version; raises ``VersionConflict`` otherwise.
        """
        now = datetime.now(UTC)
        text = json.dumps(value, sort_keys=True)
        new_version = expected_version + 1
        async with self._engine.begin() as conn:
            if expected_version == 0:
                try:
                    await conn.execute(
                        insert(checkpoints).values(key=key, version=1, value=text, updated_at=now)
                    )
                except IntegrityError:
                    raise VersionConflict(f"{key!r} already exists") from None
                return 1
            result = await conn.execute(
                update(checkpoints)
                .where(checkpoints.c.key == key, checkpoints.c.version == expected_version)
                .values(version=new_version, value=text, updated_at=now)
            )
            if result.rowcount != 1:
                raise VersionConflict(f"{key!r} is no longer at version {expected_version}")
        return new_version

    async def scan(self, prefix: str) -> dict[str, Entry]:
        """All entries whose key starts with ``prefix``, by key."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(checkpoints.c.key, checkpoints.c.version, checkpoints.c.value)
                .where(_starts_with(prefix))
                .order_by(checkpoints.c.key)
            )
            return {r.key: Entry(r.version, json.loads(r.value)) for r in rows}

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every entry whose key starts with ``prefix``; returns how many went."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(checkpoints).where(_starts_with(prefix)))
        return int(result.rowcount or 0)


def _starts_with(prefix: str) -> Any:
    """``key LIKE 'prefix%'`` with the prefix's own ``%``, ``_`` and ``\\`` taken literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return checkpoints.c.key.like(escaped + "%", escape="\\")


async def _create_table(engine: AsyncEngine, attempts: int = 5) -> None:
    """Create the table if missing, even when several workers start at the same moment.

    ``CREATE TABLE`` after a "does it exist?" check races: the loser gets a
    unique violation (PostgreSQL) or "database is locked" (SQLite). The next
    check then sees the winner's table, so retrying is enough.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_metadata.create_all, checkfirst=True)
            return
        except DBAPIError:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.05 * attempt)


def _cause(exc: BaseException) -> str:
    """What went wrong, in one line, password hidden: drivers wrap the useful part."""
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    if any(isinstance(e, TimeoutError) for e in chain):
        return f"no answer within {CONNECT_TIMEOUT_S:g} s"
    text = str(chain[-1]).strip()
    return redact(text.splitlines()[0]) if text else type(chain[-1]).__name__


def _create_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"the state store is SQLite or PostgreSQL, not {parsed.get_backend_name()!r}")
    parsed = to_async_url(parsed)
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(parsed, pool_pre_ping=True, connect_args={"timeout": CONNECT_TIMEOUT_S})
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, connect_args={"timeout": 30})
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer several activities may share.

    ``synchronous=NORMAL`` (safe with WAL) skips the fsync per commit: a commit
    survives a killed worker, and only an OS crash or power cut can lose the
    last few. A lost checkpoint just means those batches are read again, and
    their part files are rewritten with the same bytes.
    """
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
