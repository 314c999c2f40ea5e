"""Shared fixtures: one real Temporal dev server per session, catalogs per test.

PostgreSQL and MySQL/MariaDB tests run when ``TEST_POSTGRES_URL`` /
``TEST_MYSQL_URL`` point at a server where we may create databases.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.devserver import start_dev_server
from {{ cookiecutter.package_name }}.state import StateStore

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgresql") and not POSTGRES_URL:
            item.add_marker(pytest.mark.skip(reason="set TEST_POSTGRES_URL to run"))
        if item.get_closest_marker("mysql") and not MYSQL_URL:
            item.add_marker(pytest.mark.skip(reason="set TEST_MYSQL_URL to run"))


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[StateStore]:
    store = await StateStore.open(f"sqlite+aiosqlite:///{tmp_path / 'state.db'}")
    try:
        yield store
    finally:
        await store.close()
