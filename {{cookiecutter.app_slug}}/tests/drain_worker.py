"""A real worker process (``worker.serve``) hosting one slow, heartbeating activity.

Used by ``test_worker_process.py``: the real extraction activities finish too
fast to be caught in flight. Everything else (signal handling, probes, drain,
exit code) is the production ``serve`` path. Run as a script:

    python tests/drain_worker.py        (settings from the usual env variables)
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkerDeploymentConfig

from {{ cookiecutter.package_name }}.engine.activities import ExtractorActivities
from {{ cookiecutter.package_name }}.runtime.cli import leave
from {{ cookiecutter.package_name }}.runtime.config import Settings
from {{ cookiecutter.package_name }}.runtime.logs import configure_logging
from {{ cookiecutter.package_name }}.runtime.worker import serve

STEP_SECONDS = 0.2


@activity.defn(name="sleepy")
async def sleepy(steps: int) -> dict[str, int]:
    """Sleep ``steps`` x 0.2 s, checkpointing the step in heartbeats; resume from it on retry."""
    info = activity.info()
    start = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
    (Path(os.environ["DRAIN_MARKERS"]) / f"started-{os.getpid()}-{info.attempt}").touch()
    for step in range(start, steps):
        activity.heartbeat(step)
        await asyncio.sleep(STEP_SECONDS)
    return {"pid": os.getpid(), "attempt": info.attempt, "resumed_from": start}


@workflow.defn(name="SleepyWorkflow")
class SleepyWorkflow:
    @workflow.run
    async def run(self, steps: int) -> dict[str, int]:
        result: dict[str, int] = await workflow.execute_activity(
            "sleepy", steps,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3),
        )
        return result


def build(
    client: Client, settings: Settings, activities: ExtractorActivities, executor: ThreadPoolExecutor,
    *, deployment: WorkerDeploymentConfig | None = None,
) -> Worker:
    """Like ``build_worker``, same drain budget, but hosting the slow activity."""
    kwargs: dict[str, Any] = {"deployment_config": deployment}
    return Worker(
        client, task_queue=settings.task_queue, workflows=[SleepyWorkflow], activities=[sleepy],
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        workflow_runner=UnsandboxedWorkflowRunner(), **kwargs,
    )


def main() -> int:
    settings = Settings.load()
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(serve(settings, build=build))


if __name__ == "__main__":
    leave(main())  # as the console script leaves: no interpreter shutdown for the SDK's threads to crash
