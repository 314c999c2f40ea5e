"""A worker that runs in the background of a test, with activities slowed down on purpose.

``harness.extract`` waits for a run to finish; these tests need to look at a
run *while* it is going (progress, status, cancel), so batches take ``delay``
seconds each and the test can watch, query or cancel in between.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from temporalio.client import Client

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.worker import build_worker
from {{ cookiecutter.package_name }}.sources.base import Cursor, Page, Source, Work


class SlowActivities(ExtractorActivities):
    """Real activities whose pages each take ``delay`` seconds longer; records cancelled pages."""

    def __init__(self, *args: Any, delay: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delay = delay
        self.cancelled: list[str] = []

    def source(self, name: str) -> Source:
        # A Source by delegation: __getattr__ hands over vocabulary and the rest, which mypy cannot follow.
        return cast(Source, SlowSource(super().source(name), self))


class SlowSource:
    """A real source whose every page is held back by its activities' ``delay``."""

    def __init__(self, inner: Source, owner: SlowActivities) -> None:
        self.inner, self.owner = inner, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def read(self, work: Work, cursor: Cursor, page_size: int) -> AsyncIterator[Page]:
        number = int(cursor or 0)
        async for page in self.inner.read(work, cursor, page_size):
            try:
                await asyncio.sleep(self.owner.delay)
            except asyncio.CancelledError:
                self.owner.cancelled.append(f"{page.label}/{number}")
                raise
            yield page
            number += 1


@asynccontextmanager
async def live_worker(
    client: Client, state: StateStore, source_url: str, delay: float = 0.0, *, output: Path, **settings: Any
) -> AsyncIterator[tuple[Settings, SlowActivities]]:
    """Run a worker for source ``test`` on a fresh task queue, writing under ``output``, until the block ends."""
    settings.setdefault("activity_max_attempts", 2)
    config = Settings.defaults(task_queue=f"test-{uuid.uuid4().hex}", output_url=str(output), **settings)
    activities = SlowActivities(config, state, env={"SOURCE_TEST_DSN": source_url}, delay=delay)
    try:
        with ThreadPoolExecutor(max_workers=config.max_concurrent_activities) as pool:
            async with build_worker(client, config, activities, pool):
                yield config, activities
    finally:
        await activities.close()
