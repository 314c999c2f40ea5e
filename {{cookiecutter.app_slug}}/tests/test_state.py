"""State store: versioned compare-and-set and idempotent table creation, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from {{ cookiecutter.package_name }}.engine.state import StateStore, VersionConflict

from .catalogs import postgres_database
from .conftest import POSTGRES_URL

BACKENDS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """URL of an empty state store: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'state.db'}"
        return
    assert POSTGRES_URL
    async with postgres_database(POSTGRES_URL) as url:
        yield make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def race(stores: list[StateStore], key: str, expected: int) -> tuple[list[int], list[BaseException]]:
    """Every store writes ``key`` at once, all expecting version ``expected``."""
    results = await asyncio.gather(
        *(s.put(key, {"writer": n}, expected) for n, s in enumerate(stores)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, int)]
    lost = [r for r in results if isinstance(r, BaseException)]
    return won, lost


async def test_concurrent_writers_one_wins_one_conflicts(store_url: str) -> None:
    # Two stores = two engines = two connections, like two worker replicas.
    a, b = await StateStore.open(store_url), await StateStore.open(store_url)
    try:
        for round_ in range(10):
            key = f"slice-{round_}"
            won, lost = await race([a, b], key, expected=0)  # both create
            assert won == [1] and len(lost) == 1 and isinstance(lost[0], VersionConflict), (won, lost)
            won, lost = await race([a, b], key, expected=1)  # both update from version 1
            assert won == [2] and len(lost) == 1 and isinstance(lost[0], VersionConflict), (won, lost)
            entry = await a.get(key)
            assert entry is not None and entry.version == 2
            assert entry == await b.get(key)
    finally:
        await a.close()
        await b.close()


async def test_stale_version_is_refused_and_leaves_the_value(store_url: str) -> None:
    store = await StateStore.open(store_url)
    try:
        assert await store.put("k", {"n": 1}, 0) == 1
        assert await store.put("k", {"n": 2}, 1) == 2
        with pytest.raises(VersionConflict):
            await store.put("k", {"n": 3}, 1)
        with pytest.raises(VersionConflict):
            await store.put("k", {"n": 3}, 0)
        with pytest.raises(VersionConflict):
            await store.put("missing", {"n": 3}, 4)
        entry = await store.get("k")
        assert entry is not None and (entry.version, entry.value) == (2, {"n": 2})
        assert await store.get("missing") is None
    finally:
        await store.close()


async def test_scan_is_by_literal_prefix(store_url: str) -> None:
    store = await StateStore.open(store_url)
    try:
        for key in ("run_1|a", "run_1|b", "runX1|c", "run_10|d", "run%1|e"):
            await store.put(key, {"key": key}, 0)
        assert list(await store.scan("run_1|")) == ["run_1|a", "run_1|b"]
        assert list(await store.scan("run%1|")) == ["run%1|e"]
    finally:
        await store.close()


async def test_table_is_created_idempotently_by_workers_starting_together(store_url: str) -> None:
    """Several workers open a brand-new store at the same moment, then restart: no error, no data lost."""
    stores = await asyncio.gather(*(StateStore.open(store_url) for _ in range(4)))
    try:
        await stores[0].put("k", {"kept": True}, 0)
    finally:
        for store in stores:
            await store.close()
    again = await StateStore.open(store_url)
    try:
        entry = await again.get("k")
        assert entry is not None and entry.value == {"kept": True}
    finally:
        await again.close()
