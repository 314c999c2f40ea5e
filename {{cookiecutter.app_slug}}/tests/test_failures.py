"""Permanent problems fail fast, once, with a message that names the cause and the fix.

Each case runs a real workflow with the shipped retry budget (10 attempts) and
asserts: failed within 30 s, a single attempt, a non-retryable error of a
known type, and no trace of the password in the message or the history.

About passwords: the local PostgreSQL trusts every TCP login, so a wrong
password cannot fail there. Wrong passwords are tested on MariaDB; on
PostgreSQL the refused login is a role without LOGIN.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator  # variant: source=mysql
from collections.abc import AsyncIterator  # variant: source=postgresql,sqlite,rest
from contextlib import asynccontextmanager, contextmanager  # variant: source=mysql
from contextlib import asynccontextmanager  # variant: source=postgresql,sqlite,rest
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import create_engine  # variant: source=mysql
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.errors import NON_RETRYABLE_TYPES, source_call
from {{ cookiecutter.package_name }}.engine.models import ActivityTuning
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.engine.workflows import activity_options
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.runs import build_request, start
from {{ cookiecutter.package_name }}.runtime.secrets import SourceConfigError
from {{ cookiecutter.package_name }}.sources.registry import open_source

from .catalogs import _plain, postgres_database, sqlite_catalog
from .conftest import (
    MYSQL_URL,  # variant: source=mysql
    POSTGRES_URL,
)
from .harness import extract
from .history import run_text
from .s3 import moto_server


@dataclass(frozen=True)
class Failure:
    error: ApplicationError
    seconds: float
    attempts: int
    history: str


def password() -> str:
    return f"Pw-{uuid.uuid4().hex}"


async def failing_run(
    temporal: WorkflowEnvironment, url: str, tmp_path: Path, state: StateStore, schemas: str | None = None,
    output: Path | str | None = None, **settings: Any,
) -> Failure:
    workflow_id = f"fail-{uuid.uuid4().hex}"
    began = time.monotonic()
    with pytest.raises(WorkflowFailureError) as failed:
        await extract(temporal.client, url, output or tmp_path / "out", state, schemas=schemas,
                      workflow_id=workflow_id, activity_max_attempts=10, **settings)
    seconds = time.monotonic() - began
    cause: BaseException = failed.value
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause  # type: ignore[attr-defined]
    assert isinstance(cause, ApplicationError), repr(cause)
    history = await temporal.client.get_workflow_handle(workflow_id).fetch_history()
    attempts = sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    return Failure(cause, seconds, attempts, await run_text(temporal.client, workflow_id))


def assert_permanent(failure: Failure, error_type: str, *fragments: str, secrets: tuple[str, ...] = ()) -> None:
    error = failure.error
    assert error.type == error_type, (error.type, error.message)
    assert error.type in NON_RETRYABLE_TYPES and error.non_retryable
    assert failure.seconds < 30
    assert failure.attempts == 1, "a permanent error was retried"
    for fragment in fragments:
        assert fragment in error.message, (fragment, error.message)
    for secret in secrets:
        assert secret not in error.message
        assert secret not in failure.history


async def test_invalid_schema_pattern(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    with sqlite_catalog(tmp_path) as cat:
        failure = await failing_run(temporal, cat.url, tmp_path, state, schemas="sales(")
    assert_permanent(failure, "InvalidRequest", "'sales('", "not a valid regular expression")


async def test_schemas_matching_nothing_fail_and_list_what_exists(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    """An empty match is a typo, not an empty catalog: no exit 0 with an empty manifest."""
    with sqlite_catalog(tmp_path) as cat:
        failure = await failing_run(temporal, cat.url, tmp_path, state, schemas="^sales$")
    assert_permanent(failure, "InvalidRequest", "--schemas '^sales$' matches no schemas of source 'test'",
                     "it has 1: 'main'")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("manifest.json"))


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word: a wrong port, a hung server, a black hole."""
    held: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda _reader, writer: held.append(writer), "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


@pytest.mark.parametrize("scheme", [
    "postgresql",
    "mysql",  # variant: source=mysql
])
async def test_source_that_never_answers_fails_within_the_connect_timeout(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, scheme: str
) -> None:
    """Not ~60 s per attempt times 10 attempts: one attempt, the setting that gave up, and what to check."""
    secret = password()
    async with silent_server() as port:
        failure = await failing_run(temporal, f"{scheme}://extractor:{secret}@127.0.0.1:{port}/analytics",
                                    tmp_path, state, source_connect_timeout_seconds=1.0)
    error = failure.error
    assert (error.type, error.non_retryable, failure.attempts) == ("SourceTimeout", True, 1), error.message
    assert failure.seconds < 15
    assert "did not answer within 1 s (SOURCE_CONNECT_TIMEOUT_SECONDS)" in error.message, error.message
    assert "SOURCE_TEST_DSN" in error.message
    assert secret not in error.message and secret not in failure.history


async def test_a_step_over_source_timeout_seconds_mid_run_is_retried_and_named() -> None:
    """Mid-run, a slow answer may be a busy server: retryable (the retry resumes from the checkpoint)."""
    settings = Settings.defaults(source_timeout_seconds=0.05)
    with pytest.raises(ApplicationError) as raised:
        async with source_call("crm", settings):
            await asyncio.sleep(5)
    assert raised.value.type == "SourceTimeout" and not raised.value.non_retryable
    assert "within 0.05 s (SOURCE_TIMEOUT_SECONDS)" in raised.value.message
    assert "SOURCE_CRM_DSN" in raised.value.message
    assert raised.value.type not in NON_RETRYABLE_TYPES, "the retry policy would never retry it"


def test_a_missing_driver_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DSN for a database whose driver this app does not install: never retried, says which."""
    monkeypatch.setitem(sys.modules, "aiomysql", None)  # as if not installed, in every rendering
    with pytest.raises(SourceConfigError, match=r"SOURCE_CRM_DSN: the mysql driver \(aiomysql\) is not installed"):
        open_source("crm", "mysql://extractor@db.example.com/crm", None, Settings.defaults())


async def test_output_path_blocked_by_a_file(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    (tmp_path / "taken").write_text("a file where the output folder should be")
    with sqlite_catalog(tmp_path) as cat:
        failure = await failing_run(temporal, cat.url, tmp_path, state, output=tmp_path / "taken" / "out")
    assert_permanent(failure, "OutputError", "OUTPUT_URL file://", "/taken/out")
    assert (tmp_path / "taken").read_text().startswith("a file"), "the blocking file was touched"


async def test_output_bucket_missing(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    with moto_server() as s3, sqlite_catalog(tmp_path) as cat:
        s3.export(monkeypatch)
        failure = await failing_run(temporal, cat.url, tmp_path, state, output="s3://no-such-bucket/extracts")
    assert_permanent(failure, "OutputError", "OUTPUT_URL s3://no-such-bucket/extracts", "the bucket does not exist")


@pytest.mark.parametrize("scheme", [
    "postgresql",
    "mysql",  # variant: source=mysql
])
async def test_unknown_host(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, scheme: str) -> None:
    secret = password()
    url = f"{scheme}://extractor:{secret}@no-such-host.invalid:5432/analytics"
    failure = await failing_run(temporal, url, tmp_path, state)
    assert_permanent(failure, "SourceConfigError", "host name does not resolve", "check the host",
                     "SOURCE_TEST_DSN", secrets=(secret,))


@pytest.mark.postgresql
async def test_missing_database(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    assert POSTGRES_URL
    secret = password()
    url = make_url(POSTGRES_URL).set(database=f"missing_{uuid.uuid4().hex[:8]}", password=secret)
    failure = await failing_run(temporal, url.render_as_string(hide_password=False), tmp_path, state)
    assert_permanent(failure, "SourceNotFound", "database does not exist", "check the database name",
                     secrets=(secret,))


@asynccontextmanager
async def pg_role(login: bool, secret: str) -> AsyncIterator[str]:
    assert POSTGRES_URL
    role = f"xt_role_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_plain(POSTGRES_URL))
    try:
        await admin.execute(f"CREATE ROLE {role} {'LOGIN' if login else 'NOLOGIN'} PASSWORD '{secret}'")
        yield role
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


@pytest.mark.postgresql
async def test_login_refused_postgresql(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    assert POSTGRES_URL
    secret = password()
    async with pg_role(login=False, secret=secret) as role:
        url = make_url(POSTGRES_URL).set(username=role, password=secret).render_as_string(hide_password=False)
        failure = await failing_run(temporal, url, tmp_path, state)
    assert_permanent(failure, "SourceAuthError", "authentication failed", "check the user, password",
                     secrets=(secret,))


@pytest.mark.postgresql
async def test_schema_without_usage_privilege(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    assert POSTGRES_URL
    secret = password()
    async with pg_role(login=True, secret=secret) as role, postgres_database(POSTGRES_URL) as url:
        conn = await asyncpg.connect(_plain(url))
        try:
            await conn.execute(
                "CREATE SCHEMA open_s; CREATE SCHEMA secret_s; CREATE TABLE open_s.a (id int); "
                f"CREATE TABLE secret_s.b (id int); GRANT USAGE ON SCHEMA open_s TO {role};"
            )
        finally:
            await conn.close()
        as_role = make_url(url).set(username=role, password=secret).render_as_string(hide_password=False)
        failure = await failing_run(temporal, as_role, tmp_path, state, schemas="_s$")
    assert_permanent(failure, "SourcePermissionError", "lacks USAGE on schema(s) 'secret_s'",
                     f'GRANT USAGE ON SCHEMA "secret_s" TO "{role}"', secrets=(secret,))
    assert "open_s" not in failure.error.message


# >>> variant: source=mysql
@contextmanager
def mysql_user(secret: str, database: str | None = None) -> Iterator[str]:
    """A password user with no grants; ``database`` is created (and dropped) if given."""
    assert MYSQL_URL
    user = f"xt_{uuid.uuid4().hex[:8]}"
    engine = create_engine(make_url(MYSQL_URL).set(drivername="mysql+pymysql"))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{secret}'")
            if database:
                conn.exec_driver_sql(f"CREATE DATABASE `{database}`")
        yield user
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
            if database:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{database}`")
        engine.dispose()


def mysql_dsn(user: str, secret: str, database: str) -> str:
    assert MYSQL_URL
    url = make_url(MYSQL_URL).set(username=user, password=secret, database=database)
    return url.render_as_string(hide_password=False)


@pytest.mark.mysql
async def test_wrong_password_mariadb(temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore) -> None:
    right, wrong = password(), password()
    with mysql_user(right) as user:
        failure = await failing_run(temporal, mysql_dsn(user, wrong, "information_schema"), tmp_path, state)
    assert_permanent(failure, "SourceAuthError", "authentication failed", "check the user, password",
                     "SOURCE_TEST_DSN", secrets=(right, wrong))


@pytest.mark.mysql
async def test_database_without_privileges_mariadb(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    secret, database = password(), f"xt_secret_{uuid.uuid4().hex[:8]}"
    with mysql_user(secret, database) as user:
        failure = await failing_run(temporal, mysql_dsn(user, secret, database), tmp_path, state)
    assert_permanent(failure, "SourcePermissionError", "no privileges on this database", "GRANT SELECT",
                     secrets=(secret,))
# <<< variant


# --- timeouts nest ------------------------------------------------------------------------


def test_worst_case_counts_every_attempt_and_backoff() -> None:
    tuning = ActivityTuning(start_to_close_s=10, max_attempts=4, initial_retry_s=1, max_retry_s=3)
    assert tuning.worst_case_s == 10 * 4 + (1 + 2 + 3)


async def test_shipped_configuration_timeouts_nest(temporal: WorkflowEnvironment, tmp_path: Path) -> None:
    """Start a run exactly as the CLI does and read its timeouts back from the server."""
    settings = Settings.defaults()
    request = build_request(settings, "default", None)
    tuning = request.tuning
    options = activity_options(tuning)
    assert options["heartbeat_timeout"] < options["start_to_close_timeout"]
    assert options["retry_policy"].maximum_attempts == tuning.max_attempts >= 1
    assert options["retry_policy"].backoff_coefficient == 2.0  # what worst_case_s assumes

    handle = await start(temporal.client, settings, request, f"nest-{uuid.uuid4().hex}")  # no worker polls it
    try:
        config = (await handle.describe()).raw_description.execution_config
    finally:
        await handle.terminate("timeouts test")
    worst = timedelta(seconds=tuning.worst_case_s)
    for timeout in (config.workflow_execution_timeout, config.workflow_run_timeout):
        if timeout.ToTimedelta():  # zero means unset: no limit to nest under
            assert timeout.ToTimedelta() > worst, (timeout.ToTimedelta(), worst)
