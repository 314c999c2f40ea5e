"""Every activity, run twice with the same input, leaves the same output files and the same state.

Temporal delivers activities at least once: a retry after a lost completion
re-runs work that already happened. The activities are called directly here
(``ActivityEnvironment``), in the order the workflow calls them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.models import (
    ExtractionRequest,
    FinalizeInput,
    RunContext,
    SliceTask,
)
from {{ cookiecutter.package_name }}.engine.sink import run_folder
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.config import Settings

from .catalogs import (
    Catalog,
    mysql_catalog,  # variant: source=mysql
    postgres_catalog,
    sqlite_catalog,
)
from .conftest import (
    MYSQL_URL,  # variant: source=mysql
    POSTGRES_URL,
)
from .harness import activity_env, every_activity_twice, files


@pytest.fixture(params=[
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),  # variant: source=mysql
])
async def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Catalog]:
    if request.param == "postgresql":
        assert POSTGRES_URL
        async with postgres_catalog(POSTGRES_URL) as cat:
            yield cat
    # >>> variant: source=mysql
    elif request.param == "mysql":
        assert MYSQL_URL
        with mysql_catalog(MYSQL_URL) as cat:
            yield cat
    # <<< variant
    else:
        with sqlite_catalog(tmp_path) as cat:
            yield cat


def small_run(catalog: Catalog, output: Path) -> RunContext:
    """A run in batches of 2 and slices of 3 tables, so every fixture catalog makes several of each."""
    request = ExtractionRequest(source="test", schema_pattern=catalog.schema_pattern,
                                batch_size=2, slice_size=3)
    return RunContext(workflow_id="wf-idempotent", run_id="run-1", request=request)


async def test_every_activity_twice_gives_identical_output_and_state(
    catalog: Catalog, tmp_path: Path, state: StateStore
) -> None:
    output = tmp_path / "out"
    run = small_run(catalog, output)
    activities = ExtractorActivities(Settings.defaults(output_url=str(output)), state,
                                     env={"SOURCE_TEST_DSN": catalog.url})
    try:
        summary = await every_activity_twice(activities, run, state, output)
        assert summary.counts == catalog.counts
    finally:
        await activities.close()


async def test_redoing_slices_from_scratch_rewrites_the_same_bytes(
    catalog: Catalog, tmp_path: Path, state: StateStore
) -> None:
    """Lost checkpoints (a new state store) make the work run again; the files must not change."""
    output = tmp_path / "out"
    run = small_run(catalog, output)
    env = activity_env()
    written: list[dict[str, bytes]] = []
    for number in range(2):
        store = state if number == 0 else await StateStore.open(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
        activities = ExtractorActivities(Settings.defaults(output_url=str(output)), store,
                                         env={"SOURCE_TEST_DSN": catalog.url})
        try:
            plan = await env.run(activities.plan, run)
            planned = run.model_copy(update={"fingerprint": plan.fingerprint})
            for ref in plan.slices:
                await env.run(activities.extract_slice, SliceTask(run=planned, slice=ref))
            await env.run(activities.finalize, FinalizeInput(run=planned, plan=plan))
        finally:
            await activities.close()
            if store is not state:
                await store.close()
        written.append(files(output))
    assert written[0] == written[1]
    assert f"test/{run_folder('wf-idempotent')}/manifest.json" in written[0]
