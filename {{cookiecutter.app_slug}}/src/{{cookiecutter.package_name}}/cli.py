"""Command line: the door into the app.

    {{ cookiecutter.app_slug }} worker                     run a worker until SIGTERM
    {{ cookiecutter.app_slug }} extract --output PATH      run one extraction and wait
    {{ cookiecutter.app_slug }} dev                        everything in one process, no setup

Exit codes: 0 success, 1 the run failed, 2 usage error, 3 cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from dotenv import load_dotenv
from rich.console import Console
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError

from .config import APP_SLUG, ConfigError, Settings
from .logs import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 3


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=APP_SLUG, description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("worker", help="run a worker (env: TEMPORAL_ADDRESS, TASK_QUEUE, ...)")
    ex = sub.add_parser("extract", help="start an extraction and wait for its summary")
    ex.add_argument("--source", default="default", help="source name; its DSN is SOURCE_<NAME>_DSN on the workers")
    ex.add_argument("--output", type=Path, help="output folder on the workers [env: OUTPUT_DIR]")
    ex.add_argument("--schemas", help="regex; only matching schemas are extracted")
    ex.add_argument("--workflow-id", help="reuse an id to resume a failed run's checkpoints")
    ex.add_argument("--no-progress", action="store_true", help="do not show the live progress bar")
    dev = sub.add_parser("dev", help="start a dev Temporal server + worker and run one extraction")
    dev.add_argument("--source-url", help="source DSN (default: a generated SQLite sample)")
    dev.add_argument("--output", type=Path, default=Path("output"), help="output folder")
    dev.add_argument("--workdir", type=Path, default=Path(".dev"), help="sample db and state store folder")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    load_dotenv(".env", override=False)
    try:
        settings = Settings.from_env(dotenv_path=None)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return EXIT_CANCELLED


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "worker":
        from .worker import serve

        return await serve(settings)
    if args.command == "extract":
        return await _extract(args, settings)
    return await _dev(args, settings)


async def _extract(args: argparse.Namespace, settings: Settings) -> int:
    from . import runs
    from .temporal_client import connect

    console = Console()
    client = await connect(settings)
    output = args.output or settings.output_dir
    request = runs.build_request(settings, args.source, output, args.schemas)
    handle = await runs.start(client, settings, request, args.workflow_id or runs.default_workflow_id(args.source))
    console.print(f"started workflow {handle.id}")
    return await _await_summary(handle, console, progress=not args.no_progress)


async def _await_summary(handle: object, console: Console, progress: bool) -> int:
    from . import runs

    try:
        if progress:
            summary = await runs.follow(handle, console)  # type: ignore[arg-type]
        else:
            summary = await handle.result()  # type: ignore[attr-defined]
    except WorkflowFailureError as exc:
        if isinstance(exc.cause, CancelledError):
            console.print("[yellow]run cancelled[/yellow]")
            return EXIT_CANCELLED
        console.print(f"[red]run failed:[/red] {root_cause(exc)}")
        return EXIT_FAILED
    runs.render_summary(summary, console)
    return EXIT_OK


def root_cause(exc: BaseException) -> BaseException:
    """The innermost Temporal failure cause: the activity's own message."""
    while isinstance(getattr(exc, "cause", None), BaseException):
        exc = exc.cause  # type: ignore[attr-defined]
    return exc


async def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from . import runs
    from .activities import ExtractorActivities
    from .devserver import start_dev_server
    from .sample import create_sample
    from .state import StateStore
    from .worker import build_worker

    console = Console()
    workdir = args.workdir.resolve()
    url = args.source_url or f"sqlite:///{create_sample(workdir / 'sample.db')}"
    env = {**os.environ, "SOURCE_DEV_DSN": url}
    console.print(f"starting Temporal dev server; source: {'sample SQLite' if not args.source_url else 'given URL'}")
    async with await start_dev_server(settings.temporal_namespace) as server:
        state = await StateStore.open(f"sqlite+aiosqlite:///{workdir / 'state.db'}")
        activities = ExtractorActivities(settings, state, env=env)
        try:
            with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as pool:
                async with build_worker(server.client, settings, activities, pool):
                    request = runs.build_request(settings, "dev", args.output, None)
                    handle = await runs.start(server.client, settings, request, runs.default_workflow_id("dev"))
                    return await _await_summary(handle, console, progress=True)
        finally:
            await activities.close()
            await state.close()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
