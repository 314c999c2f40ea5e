"""The REST source against the real demo API over HTTP: paging, resuming, retries, errors, rate, secrecy."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.secrets import SourceConfigError
from {{ cookiecutter.package_name }}.sources.base import Cursor, Group, NoMatch, Page, Work
from {{ cookiecutter.package_name }}.sources.demo_api import DemoApi
from {{ cookiecutter.package_name }}.sources.records import qualify
from {{ cookiecutter.package_name }}.sources.rest import (
    ENDPOINTS,
    MAX_ATTEMPTS,
    PAGE_NUMBER,
    Endpoint,
    RestSource,
    parse_dsn,
    retry_after,
)

from .harness import extract

TOKEN = f"tok-{uuid.uuid4().hex}"
USERS = Work(groups=[Group(name="users", whole=True)])
ORDERS = Work(groups=[Group(name="orders", whole=True)])
BOTH = Work(groups=[Group(name="users", whole=True), Group(name="orders", whole=True)])


@pytest.fixture
def api() -> Iterator[DemoApi]:
    server = DemoApi(token=TOKEN)
    with server:
        yield server


@pytest.fixture
async def source(api: DemoApi) -> AsyncIterator[RestSource]:
    rest = RestSource.from_dsn("test", f"{api.base_url}?rate=0", TOKEN)
    try:
        yield rest
    finally:
        await rest.close()


async def pages_of(source: RestSource, work: Work, page_size: int, cursor: Cursor = None) -> list[Page]:
    return [page async for page in source.read(work, cursor, page_size)]


def ids(pages: list[Page], kind: str) -> list[int]:
    return [r["id"] for page in pages for r in page.records if r["kind"] == kind]


async def test_cursor_pagination_reads_every_user_once_in_order(source: RestSource) -> None:
    pages = await pages_of(source, USERS, page_size=40)

    assert ids(pages, "user") == list(range(1, 251))
    assert [page.units for page in pages] == [40] * 6 + [10]
    assert [page.label for page in pages] == ["users"] * 7
    assert pages[-1].cursor is None and all(page.cursor is not None for page in pages[:-1])
    assert [r["kind"] for r in pages[0].records[:2]] == ["endpoint", "user"]
    assert sum(r["kind"] == "endpoint" for page in pages for r in page.records) == 1
    first = pages[0].records[1]
    assert first["qualified_name"] == qualify("127.0.0.1", "users", "1")
    assert first["data"]["email"] == "user001@example.com"
    assert await pages_of(source, USERS, page_size=40) == pages  # same API data, same records and cursors


async def test_page_number_pagination_stops_at_the_page_count(source: RestSource) -> None:
    pages = await pages_of(source, ORDERS, page_size=40)

    assert ids(pages, "order") == list(range(1001, 1131))
    assert [page.units for page in pages] == [40, 40, 40, 10]
    assert [page.cursor for page in pages] == [{"endpoint": 0, "next": n} for n in (2, 3, 4)] + [None]
    # A page size over the API's cap is clamped, so a capped page is not taken for the last one.
    assert [page.units for page in await pages_of(source, ORDERS, page_size=500)] == [100, 30]


async def test_page_number_pagination_without_a_page_count_stops_at_a_short_page(api: DemoApi) -> None:
    orders = Endpoint(name="orders", path="/orders", pagination=PAGE_NUMBER, kind="order", items="items",
                      size_param="per_page")
    rest = RestSource("test", parse_dsn("test", f"{api.base_url}?rate=0"), TOKEN, endpoints=[orders])
    try:
        short = await pages_of(rest, ORDERS, page_size=50)
        exact = await pages_of(rest, ORDERS, page_size=65)
    finally:
        await rest.close()
    assert [page.units for page in short] == [50, 50, 30]
    assert [page.units for page in exact] == [65, 65, 0]  # a full last page: the empty one after it ends
    assert ids(exact, "order") == list(range(1001, 1131))


@pytest.mark.parametrize("work", [USERS, ORDERS, BOTH], ids=["cursor", "page-number", "two-endpoints"])
async def test_a_resumed_read_gives_exactly_the_remaining_pages(source: RestSource, work: Work) -> None:
    pages = await pages_of(source, work, page_size=30)
    assert len(pages) >= 5

    for done in range(len(pages) - 1):
        assert await pages_of(source, work, page_size=30, cursor=pages[done].cursor) == pages[done + 1:]
    assert len({r["qualified_name"] for page in pages for r in page.records}) == sum(len(p.records) for p in pages)


async def test_plan_lists_matching_endpoints_whole_and_describe_names_the_api(source: RestSource) -> None:
    assert await source.plan(None) == [Group(name="users", whole=True), Group(name="orders", whole=True)]
    assert await source.plan(re.compile("^ord")) == [Group(name="orders", whole=True)]
    with pytest.raises(NoMatch) as nothing:  # the engine turns it into a failed run that lists these
        await source.plan(re.compile("^invoices$"))
    assert nothing.value.existing == ["users", "orders"]

    info = await source.describe()
    assert (info.name, info.system, info.version) == ("127.0.0.1", "rest", "1.0.0")
    assert [r["kind"] for r in info.records] == ["api"]
    assert source.tally((await pages_of(source, BOTH, page_size=100))[0].records) == {"endpoints": 1, "users": 100}


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_and_unavailability_are_retried_after_retry_after(status: int) -> None:
    faulty = DemoApi(token=TOKEN, fail_every=3, fail_status=status)
    with DemoApi(token=TOKEN) as clean_url, faulty as faulty_url:
        clean = RestSource.from_dsn("test", f"{clean_url}?rate=0", TOKEN)
        flaky = RestSource.from_dsn("test", f"{faulty_url}?rate=0", TOKEN)
        try:
            expected = await pages_of(clean, BOTH, page_size=50)
            got = await pages_of(flaky, BOTH, page_size=50)
        finally:
            await clean.close()
            await flaky.close()
    failed = [r for r in faulty.requests if r.status == status]
    assert len(failed) >= 3
    assert [p.records for p in got] == [p.records for p in expected]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("7") == 7.0
    assert retry_after(formatdate(1_000_030, usegmt=True), now=1_000_000) == 30.0
    assert retry_after(formatdate(999_000, usegmt=True), now=1_000_000) == 0.0
    assert retry_after(None) is None and retry_after("soon") is None


async def test_a_wrong_token_fails_for_good_naming_the_password_setting(api: DemoApi) -> None:
    wrong = f"wrong-{TOKEN}"
    rest = RestSource.from_dsn("test", api.base_url, wrong)
    try:
        with pytest.raises(ApplicationError) as caught:
            await rest.describe()
    finally:
        await rest.close()
    error = caught.value
    assert (error.type, error.non_retryable) == ("SourceAuthError", True)
    assert "SOURCE_TEST_PASSWORD" in str(error) and "401" in str(error)
    assert wrong not in str(error) and TOKEN not in str(error)


async def test_a_missing_endpoint_fails_for_good_naming_its_path(api: DemoApi) -> None:
    missing = Endpoint(name="invoices", path="/invoices")
    rest = RestSource("test", parse_dsn("test", api.base_url), TOKEN, endpoints=[missing])
    try:
        with pytest.raises(ApplicationError) as caught:
            await pages_of(rest, Work(groups=[Group(name="invoices", whole=True)]), page_size=10)
    finally:
        await rest.close()
    assert (caught.value.type, caught.value.non_retryable) == ("SourceNotFound", True)
    assert "GET /invoices answered 404" in str(caught.value) and TOKEN not in str(caught.value)


async def test_another_client_error_fails_for_good_with_the_apis_complaint(source: RestSource) -> None:
    with pytest.raises(ApplicationError) as caught:
        await pages_of(source, USERS, page_size=10, cursor={"endpoint": 0, "next": "not-a-cursor"})
    assert (caught.value.type, caught.value.non_retryable) == ("SourceConfigError", True)
    assert "HTTP 400" in str(caught.value) and "bad limit or cursor" in str(caught.value)


async def test_the_rate_limit_spaces_every_request_of_the_source(api: DemoApi) -> None:
    rest = RestSource.from_dsn("test", f"{api.base_url}?rate=20", TOKEN)
    try:
        await rest.describe()  # as the plan does; also pays the process's one-off lazy imports of the first request
        # Two reads at once, as two slices of one worker: they share the limit.
        await asyncio.gather(pages_of(rest, USERS, page_size=25), pages_of(rest, ORDERS, page_size=25))
    finally:
        await rest.close()
    times = sorted(r.at for r in api.requests)
    assert len(times) == 1 + 10 + 6
    # Each gap is at least 1/20 s when sent; arrival can bunch two of them on a busy machine,
    # never the whole run: 16 gaps take at least 16/20 s, less one scheduling delay.
    assert times[-1] - times[0] >= 16 / 20 - 0.05, [round(b - a, 3) for a, b in itertools.pairwise(times)]


@pytest.mark.parametrize("dsn, problem", [
    ("https://api.example.com?page_size=5", "unknown option"),
    ("https://user:pw@api.example.com", "credentials in the URL"),
    ("https://api.example.com?auth=basic", "auth='basic'"),
    ("https://api.example.com?rate=fast", "rate='fast'"),
    ("ftp://api.example.com", "not an http(s) base URL"),
    ("https://api.example.com:http/v1", "not an http(s) base URL"),
])
def test_bad_dsns_are_rejected_before_any_request(dsn: str, problem: str) -> None:
    with pytest.raises(SourceConfigError, match=re.escape(problem)):
        RestSource.from_dsn("test", dsn, TOKEN)


def test_a_token_is_required_unless_auth_is_none() -> None:
    with pytest.raises(SourceConfigError, match="SOURCE_TEST_PASSWORD"):
        RestSource.from_dsn("test", "https://api.example.com", None)
    assert RestSource.from_dsn("test", "https://api.example.com?auth=none", None).options.auth_header is None


async def test_the_token_never_reaches_records_cursors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # its per-request lines, even if logging was configured
    with DemoApi(token=TOKEN, fail_every=4, fail_status=503) as url:
        rest = RestSource.from_dsn("test", f"{url}?auth=header:X-Api-Key&rate=0", TOKEN)
        wrong = RestSource.from_dsn("test", f"{url}?rate=0", TOKEN[::-1])
        try:
            info = await rest.describe()
            pages = await pages_of(rest, BOTH, page_size=60)
            with pytest.raises(ApplicationError) as caught:
                await pages_of(wrong, USERS, page_size=60)
        finally:
            await rest.close()
            await wrong.close()
    assert "retrying" in caplog.text and "HTTP Request" in caplog.text  # control: the logs were captured
    assert ids(pages, "user") == list(range(1, 251))
    seen = json.dumps([info.model_dump(), [(p.records, p.cursor, p.label) for p in pages]]) + str(caught.value)
    for text in (seen, caplog.text):
        assert TOKEN not in text and TOKEN[::-1] not in text


async def test_extraction_through_a_real_worker(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # its per-request lines, even if logging was configured
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "SOURCE_TEST_PASSWORD").write_text(TOKEN + "\n")
    with DemoApi(token=TOKEN, fail_every=5, fail_status=429) as url:
        run = await extract(temporal.client, f"{url}?rate=50", tmp_path / "out", state,
                            secrets_dir=secrets, batch_size=40)
    assert run.summary.counts == {"endpoints": 2, "users": 250, "orders": 130}
    assert (run.summary.database, run.summary.dialect, run.manifest["server_version"]) == ("127.0.0.1", "rest", "1.0.0")
    assert sorted(run.of_kind("endpoint")) == [qualify("127.0.0.1", name) for name in ("orders", "users")]
    assert len(run.of_kind("user")) == 250 and len(run.of_kind("order")) == 130
    assert len(run.records) == 1 + 2 + 250 + 130  # the api record, and each record exactly once
    assert [r["kind"] for r in run.records].count("api") == 1
    everything = json.dumps(run.records) + json.dumps(run.manifest) + caplog.text
    assert TOKEN not in everything
    assert len(ENDPOINTS) == 2


async def test_a_failed_attempt_is_resumed_by_temporal_after_the_last_written_page(
    temporal: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    """Request 1 is the plan's /version, 2-3 the first users pages; 4 fails more often than the source retries."""
    (tmp_path / "SOURCE_TEST_PASSWORD").write_text(TOKEN)
    api = DemoApi(token=TOKEN, fail_at=range(4, 4 + MAX_ATTEMPTS), fail_status=503)
    with api as url:
        run = await extract(temporal.client, f"{url}?rate=0", tmp_path / "out", state, schemas="^users$",
                            secrets_dir=tmp_path, batch_size=40, activity_max_attempts=3)
    users = [r for r in api.requests if r.path == "/users"]
    assert [r.status for r in users].count(503) == MAX_ATTEMPTS
    assert sum("cursor=" not in r.query for r in users) == 1, "the retried attempt started over"
    assert run.summary.counts == {"endpoints": 1, "users": 250, "orders": 0}
    assert sorted(r["id"] for r in run.of_kind("user").values()) == list(range(1, 251))
    assert len(run.records) == 1 + 1 + 250
