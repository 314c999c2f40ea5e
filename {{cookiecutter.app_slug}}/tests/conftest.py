"""Shared fixtures: one real Temporal dev server per session, catalogs per test.

PostgreSQL and MySQL/MariaDB tests run when ``TEST_POSTGRES_URL`` /
``TEST_MYSQL_URL`` point at a server where we may create databases.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.devserver import start_dev_server

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL")


#: marker -> (variable that enables it, server name, its default local address)
SERVICES = {
    "postgresql": ("TEST_POSTGRES_URL", "PostgreSQL", ("127.0.0.1", 5432)),
    "mysql": ("TEST_MYSQL_URL", "MySQL/MariaDB", ("127.0.0.1", 3306)),
}
SKIPPED = pytest.StashKey[dict[str, int]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    enabled = {"postgresql": bool(POSTGRES_URL), "mysql": bool(MYSQL_URL)}
    skipped = config.stash.setdefault(SKIPPED, {})
    for item in items:
        for marker, (variable, _, _) in SERVICES.items():
            if item.get_closest_marker(marker) and not enabled[marker]:
                item.add_marker(pytest.mark.skip(reason=f"set {variable} to run"))
                skipped[marker] = skipped.get(marker, 0) + 1
                break


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """One line per skipped service: how many tests, and how to run them."""
    for marker, count in sorted(config.stash.get(SKIPPED, {}).items()):
        variable, server, address = SERVICES[marker]
        hint = f"set {variable} (a database URL where the tests may create databases)"
        if _answers(address):
            hint += f"; a {server} server answers on {address[0]}:{address[1]}: run `make test-all`"
        terminalreporter.write_line(f"skipped {count} {server} test(s): {hint}", yellow=True)


def _answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.3):
            return True
    except OSError:
        return False


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
