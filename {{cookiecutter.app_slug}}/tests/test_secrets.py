"""The password never crosses Temporal and never reaches a log; DSNs are redacted.

PostgreSQL here trusts local logins, so a DSN can carry a password that the
server ignores: the extraction succeeds while the password sits in the
worker's DSN, which is exactly the situation to prove leak-free.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.logs import ConsoleFormatter, JsonFormatter
from {{ cookiecutter.package_name }}.runtime.secrets import (
    SourceConfigError,
    redact,
    resolve_source_url,
)

from .catalogs import _plain, postgres_database
from .conftest import POSTGRES_URL
from .harness import Run, extract
from .history import pending_activity_text, run_text

SECRET = f"Pw-{uuid.uuid4().hex}"


async def pg_source_with_password(url: str, tables: int) -> str:
    conn = await asyncpg.connect(_plain(url))
    try:
        await conn.execute("CREATE SCHEMA app; " + " ".join(
            f"CREATE TABLE app.t{n:04d} (id int PRIMARY KEY, v text);" for n in range(tables)))
    finally:
        await conn.close()
    return make_url(url).set(password=SECRET).render_as_string(hide_password=False)


@pytest.mark.postgresql
async def test_password_is_absent_from_history_inputs_results_and_heartbeats(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    assert POSTGRES_URL
    workflow_id = f"secret-{uuid.uuid4().hex}"
    heartbeats: list[str] = []

    async def watch_heartbeats(done: asyncio.Task[Run]) -> None:
        while not done.done():
            for child in range(2):
                heartbeats.append(await pending_activity_text(temporal.client, f"{workflow_id}/slices-{child:04d}"))
            await asyncio.sleep(0.02)

    async with postgres_database(POSTGRES_URL) as url:
        dsn = await pg_source_with_password(url, tables=300)
        run = asyncio.create_task(extract(temporal.client, dsn, tmp_path / "out", state, workflow_id=workflow_id,
                                          batch_size=5, slice_size=50, slices_per_child=3))
        await watch_heartbeats(run)
        summary = (await run).summary
    history = await run_text(temporal.client, workflow_id)
    seen_heartbeats = "\n".join(heartbeats)

    assert summary.counts["tables"] == 300
    # Controls: decoding works (the manifest URL only travels inside payloads) and heartbeats were seen.
    assert (tmp_path / "out").as_uri() in history and '"tables":' in history
    assert '"batch"' in seen_heartbeats, "no heartbeat details were captured; the check below would be empty"
    assert SECRET not in history
    assert SECRET not in seen_heartbeats


@pytest.mark.postgresql
async def test_password_is_absent_from_logs_of_success_and_failures(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    """Everything at DEBUG, including Temporal's tracebacks of failed attempts and the core's own output."""
    assert POSTGRES_URL
    caplog.set_level(logging.DEBUG)
    async with postgres_database(POSTGRES_URL) as url:
        dsn = await pg_source_with_password(url, tables=20)
        await extract(temporal.client, dsn, tmp_path / "ok", state, batch_size=5)
    refused = make_url(dsn).set(host="127.0.0.1", port=1).render_as_string(hide_password=False)  # transient
    unknown = make_url(dsn).set(host="no-such-host.invalid").render_as_string(hide_password=False)  # permanent
    for bad in (refused, unknown):
        with pytest.raises(WorkflowFailureError):
            await extract(temporal.client, bad, tmp_path / "bad", state, activity_max_attempts=2)

    formatter = logging.Formatter("%(name)s %(message)s")
    logged = "\n".join(formatter.format(r) + repr(r.args) for r in caplog.records)
    out, err = capfd.readouterr()
    assert "Connect call failed" in logged or "onnection refused" in logged, "the failed attempt was not logged"
    assert "host name does not resolve" in logged
    assert SECRET not in logged
    assert SECRET not in out + err


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("postgresql://app:s3cret@db:5432/x", "s3cret", "postgresql://app:***@db:5432/x"),
        ("postgresql+asyncpg://app:s3%40cret@db/x?sslmode=require", "s3%40cret", "app:***@db/x?sslmode=require"),
        ("mysql://root:p@ss@db/x", "p@ss", "mysql://root:***@db/x"),  # unencoded @: the tail must not leak
        ("postgresql://:tok3n@db/x", "tok3n", "postgresql://:***@db/x"),
        ("failed: sqlite:///x.db, then postgresql://u:pw1@h/d and mysql://v:pw2@h/d",
         "pw", "sqlite:///x.db, then postgresql://u:***@h/d and mysql://v:***@h/d"),
        ("host=db user=app password=s3cret dbname=x", "s3cret", "password=*** dbname=x"),
        ("host=db password='s3 cret' dbname=x", "s3 cret", "password=*** dbname=x"),
        ('{"user": "app", "password": "s3cret"}', "s3cret", '"password": ***'),
        ("see https://sqlalche.me/e/21/e3q8 and http://h:8080/a@b", "\0", "https://sqlalche.me/e/21/e3q8"),
    ],
)
def test_redact(text: str, hidden: str, kept: str) -> None:
    redacted = redact(text)
    assert hidden not in redacted
    assert kept in redacted
    assert redact(redacted) == redacted


def test_redact_also_hides_given_secrets() -> None:
    assert redact("token abc123 used", "abc123") == "token *** used"


def test_log_formatters_redact_messages_and_tracebacks() -> None:
    try:
        raise RuntimeError("cannot reach postgresql://app:s3cret@db/x")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", ("mysql://a:hunter2@h/d",),
                                   sys.exc_info())
    for formatter in (ConsoleFormatter(), JsonFormatter()):
        text = formatter.format(record)
        assert "s3cret" not in text and "hunter2" not in text
        assert "mysql://a:***@h/d" in text


@pytest.mark.parametrize("dsn", ["postgresql://u:s3cret@h:notaport/db", "postgres ql://u:s3cret@h/db"])
def test_malformed_dsn_is_a_config_error_without_the_password(dsn: str, tmp_path: Path) -> None:
    with pytest.raises(SourceConfigError) as raised:
        resolve_source_url("main", {"SOURCE_MAIN_DSN": dsn}, tmp_path)
    assert "s3cret" not in str(raised.value)
    assert "SOURCE_MAIN_DSN" in str(raised.value)


def test_password_from_its_own_secret_file_is_injected(tmp_path: Path) -> None:
    (tmp_path / "SOURCE_MAIN_PASSWORD").write_text("s3cret\n")
    url = resolve_source_url("main", {"SOURCE_MAIN_DSN": "postgresql://app@db/x"}, tmp_path)
    assert url.password == "s3cret"
    assert "s3cret" not in str(url) and "s3cret" not in repr(url)
