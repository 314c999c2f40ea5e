"""``report`` and ``show`` on real output: a real extraction of a hostile SQLite catalog, and PostgreSQL.

The browser tests open the report in a real headless Chromium (Debian's
``chromium``, driven by playwright). Without it they skip, unless
``REQUIRE_BROWSER=1`` (the template's CI sets it), where they fail.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.output import BadOutput, ChecksumMismatch, load_run
from {{ cookiecutter.package_name }}.runtime.report import write_report
from {{ cookiecutter.package_name }}.runtime.show import UnknownTarget, show

from .catalogs import postgres_catalog
from .conftest import POSTGRES_URL
from .harness import extract

SCRIPT = "<script>window.pwned = 1</script>"
IMG = '"x" <img src=x onerror="window.pwned=2">'
MARKUP = "[bold red]not bold[/bold red]"
CONTROLS = "two\nlines\x1b[31m\x07"
HOSTILE_DDL = f"""
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'n/a');
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE);
CREATE TABLE "{SCRIPT}" ("{IMG.replace('"', '""')}" INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(id),
    CONSTRAINT "ck {SCRIPT}" CHECK (order_id > 0));
CREATE INDEX "ix ""q"" {SCRIPT}" ON "{SCRIPT}" (order_id);
CREATE TABLE "{MARKUP}" (id INTEGER);
CREATE TABLE "{CONTROLS}" ("Ünïcødé テーブル" TEXT);
"""
CHROMIUM = shutil.which("chromium")  # Debian's package; playwright's own browser download is never used
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
async def hostile(temporal: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The manifest URL of a real extraction of ``HOSTILE_DDL``, in small batches (several parts)."""
    folder = tmp_path_factory.mktemp("hostile")
    with sqlite3.connect(folder / "hostile.db") as conn:
        conn.executescript(HOSTILE_DDL)
    conn.close()
    store = await StateStore.open(f"sqlite+aiosqlite:///{folder / 'state.db'}")
    try:
        run = await extract(temporal.client, f"sqlite:///{folder / 'hostile.db'}", folder / "out", store,
                            batch_size=2, slice_size=4)
    finally:
        await store.close()
    assert len(run.manifest["parts"]) > 2
    return run.summary.manifest


def unpack(html: str, element_id: str) -> Any:
    found = re.search(f'<script type="text/plain" id="{element_id}">([^<]*)</script>', html)
    assert found, element_id
    return json.loads(gzip.decompress(base64.b64decode(found[1])))


# --- loading ------------------------------------------------------------------------------


def test_load_files_foreign_keys_both_ways(hostile: str) -> None:
    run = load_run(hostile)
    db = run.manifest["database"]
    orders = run.tables[f'"{db}"."main"."orders"']
    assert [f["referred_table"] for f in orders.foreign_keys] == [f'"{db}"."main"."customers"']
    assert [f["table"] for f in orders.referenced_by] == [f'"{db}"."main"."{SCRIPT}"']
    assert [c["name"] for c in run.tables[f'"{db}"."main"."{SCRIPT}"'].columns] == [IMG, "order_id"]


def test_a_corrupt_part_is_named(hostile: str, tmp_path: Path) -> None:
    folder = Path(hostile.removeprefix("file://")).parent
    copy = shutil.copytree(folder, tmp_path / "copy")
    part = json.loads((copy / "manifest.json").read_text())["parts"][1]["path"]
    (copy / part).write_bytes((copy / part).read_bytes() + b"\n")  # one byte more: still valid JSON Lines
    with pytest.raises(ChecksumMismatch, match=f"part {part} is corrupt"):
        write_report(str(copy / "manifest.json"), tmp_path / "r.html")
    with pytest.raises(BadOutput, match="cannot read the manifest"):
        load_run(str(tmp_path / "nowhere" / "manifest.json"))
    with pytest.raises(BadOutput, match="unsupported scheme 'ftp'"):
        load_run("ftp://host/run/manifest.json")


# --- the page's data ----------------------------------------------------------------------


def test_report_embeds_every_table_escaped(hostile: str, tmp_path: Path) -> None:
    facts = write_report(hostile, tmp_path / "report.html")
    html = facts.path.read_text(encoding="utf-8")
    assert facts.size == len(html.encode()) and facts.tables == 5 and facts.schemas == 1
    # nothing to fetch, and no name in the page outside the packed data (base64 holds no "<" and no ":")
    assert "<img" not in html and "window.pwned" not in html and "://" not in html
    index = unpack(html, "report-index")
    assert {t[1] for t in index["tables"]} >= {SCRIPT, MARKUP, CONTROLS, "orders"}
    assert index["meta"]["counts"]["tables"] == 5 and index["meta"]["written_at"]
    names = [t[1] for t in index["tables"]]
    details = unpack(html, f"chunk-{index['tables'][names.index('orders')][5]}")
    orders = details[str(names.index("orders"))]
    assert orders["foreign_keys"][0]["ref"] == names.index("customers")
    assert orders["referenced_by"][0]["from"] == names.index(SCRIPT)


# --- show ---------------------------------------------------------------------------------


def shown(manifest: str, target: str | None) -> str:
    console = Console(record=True, width=200, color_system=None)
    show(manifest, target, console)
    return console.export_text()


def test_show_run_schema_and_table(hostile: str) -> None:
    assert "main (5 tables)" in shown(hostile, None)
    schema = shown(hostile, "main")
    assert "orders table, 2 columns" in schema and MARKUP in schema  # markup printed as it is
    assert "two\\nlines\\x1b[31m\\x07" in schema and "\x1b" not in schema
    orders = shown(hostile, "main.orders")
    assert "customer_id INTEGER not null" in orders
    assert "→ main.customers (id)" in orders and "on delete CASCADE" in orders
    assert f"main.{SCRIPT} (order_id) → (id)" in orders  # referenced by
    hostile_table = shown(hostile, f"main.{SCRIPT}")
    assert IMG in hostile_table and f"order_id > 0 ck {SCRIPT}" in hostile_table
    assert "default 'n/a'" in shown(hostile, '"main"."customers"')


def test_show_unknown_names_close_matches(hostile: str) -> None:
    with pytest.raises(UnknownTarget, match=r"no schema or table 'main\.order' .*close matches: 'main\.orders'"):
        shown(hostile, "main.order")
    with pytest.raises(UnknownTarget, match="no schema or table 'nope'"):
        shown(hostile, "nope")


# --- PostgreSQL: partitions, comments, foreign keys across schemas, dotted names ----------

PG_DDL = """
DROP SCHEMA public;
CREATE SCHEMA sales; CREATE SCHEMA hr; CREATE SCHEMA "a.b"; CREATE SCHEMA a;
CREATE TABLE "a.b".c (id int); CREATE TABLE a."b.c" (id int);
COMMENT ON SCHEMA hr IS 'People';
CREATE TABLE hr.employees (id int PRIMARY KEY, email text UNIQUE);
COMMENT ON TABLE hr.employees IS 'People on payroll';
CREATE TABLE sales.customers (id bigint PRIMARY KEY, manager int REFERENCES hr.employees(id));
CREATE TABLE sales.events (id bigint NOT NULL, happened date NOT NULL) PARTITION BY RANGE (happened);
CREATE TABLE sales.events_2026 PARTITION OF sales.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
"""


@pytest.fixture(scope="module")
async def pg_run(temporal: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    assert POSTGRES_URL
    folder = tmp_path_factory.mktemp("pg")
    async with postgres_catalog(POSTGRES_URL, PG_DDL) as cat:
        store = await StateStore.open(f"sqlite+aiosqlite:///{folder / 'state.db'}")
        try:
            run = await extract(temporal.client, cat.url, folder / "out", store)
        finally:
            await store.close()
    yield run.summary.manifest


@pytest.mark.postgresql
def test_show_postgresql(pg_run: str) -> None:
    assert "hr (1 table)" in shown(pg_run, None) and "People" in shown(pg_run, None)
    events = shown(pg_run, "sales.events")
    assert "partition key RANGE (happened)" in events and "events_2026 FOR VALUES FROM ('2026-01-01')" in events
    assert "sales.customers (manager) → (id)" in shown(pg_run, "hr.employees")
    assert "events_2026 table" in shown(pg_run, "sales")
    with pytest.raises(UnknownTarget, match=r'ambiguous: it names "a"\."b\.c", "a\.b"\."c"'):
        shown(pg_run, "a.b.c")
    assert shown(pg_run, '"a.b"."c"').startswith("a.b.c table")
    assert shown(pg_run, '"a"."b.c"').startswith("a.b.c table")


# --- in a real browser --------------------------------------------------------------------


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium is on PATH (apt-get install chromium)")
        pytest.skip("no Chromium: apt-get install chromium to run the browser tests")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            tmp_path / f"profile-{uuid.uuid4().hex[:6]}", executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1200, "height": 750})
        try:
            yield context
        finally:
            await context.close()


async def open_report(browser: Any, path: Path) -> tuple[Any, list[str]]:
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(path.as_uri())
    await page.wait_for_selector("html[data-ready='1']", timeout=15_000)
    return page, problems


async def test_report_in_chromium(browser: Any, hostile: str, tmp_path: Path) -> None:
    report = write_report(hostile, tmp_path / "report.html").path
    page, problems = await open_report(browser, report)
    assert "1 schema, 5 tables, 0 views" in await page.inner_text("header")  # views are not tables
    assert "Counts" in await page.inner_text("main")

    await page.fill("#search", "ORDER")  # search is case-insensitive
    await page.wait_for_selector("#results a")
    await page.locator("#results a").filter(has_text=re.compile(r"^main\.orders$")).click()
    await heading(page, "orders")
    assert "customer_id" in await page.inner_text("main")

    await page.click("#foreign-keys a")  # orders -> customers
    await heading(page, "customers")
    assert "main.orders" in await page.inner_text("#referenced-by")

    await page.click("#referenced-by a")  # and back, by the back-reference
    await heading(page, "orders")
    await page.click("#referenced-by a")  # orders is referenced by the hostile table
    await heading(page, SCRIPT)
    text = await page.inner_text("main")
    assert IMG in text and f"ck {SCRIPT}" in text
    assert await page.evaluate("[window.pwned, document.images.length, document.scripts.length]") == [
        None, 0, len(re.findall("<script", report.read_text(encoding="utf-8")))]

    await page.fill("#search", "two")
    await page.locator("#results a").filter(has_text="main.two").wait_for()
    assert "two\\nlines\\x1b[31m\\x07" in await page.inner_text("#results")
    await page.fill("#search", "<IMG")
    await page.locator("#tree p").filter(has_text="0 results").wait_for()
    await page.click("text=search columns too")  # inflates every chunk
    await page.locator("#column-results li").filter(has_text=f"main.{SCRIPT} · {IMG}").wait_for()
    await page.fill("#search", "")
    assert problems == []
    assert await distinct_colours(browser, await page.screenshot()) > 20


async def heading(page: Any, table: str) -> None:
    """Wait for the view of ``table`` (no page-side script: the report's CSP forbids eval)."""
    await page.locator("#table-name").filter(has_text=table).wait_for()


async def distinct_colours(browser: Any, png: bytes) -> int:
    """How many colours a screenshot has, counted by the browser itself (no imaging library needed)."""
    page = await browser.new_page()
    await page.set_content("<canvas id=c></canvas>")
    return int(await page.evaluate("""async (b64) => {
        const img = new Image(); img.src = "data:image/png;base64," + b64; await img.decode();
        const c = document.getElementById("c"); c.width = img.width; c.height = img.height;
        const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
        const data = ctx.getImageData(0, 0, img.width, img.height).data, seen = new Set();
        for (let i = 0; i < data.length; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        return seen.size;
    }""", base64.b64encode(png).decode()))
