"""Command line. RUNTIME: change it to add a command; the work itself lives in the engine.

The console script is named after the app slug:

    <app> worker                  run a worker until SIGTERM
    <app> extract [--follow]      start an extraction and wait for its summary
    <app> status [--follow] ID    print a run's state and progress (or follow it to its end)
    <app> cancel WORKFLOW_ID      cancel a run; its activities stop at their next heartbeat
    <app> dev                     everything in one process, no setup

Settings come from CLI options, then environment variables, then ``.env``;
each option's help names its variable. Exit codes: see ``EXIT_*`` below.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import MISSING, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from dotenv import load_dotenv
from rich.console import Console
from rich.markup import escape
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .config import APP_SLUG, ConfigError, Settings
from .logs import configure_logging

EXIT_OK = 0  # success (status: running or completed; cancel: requested, or the run had already ended)
EXIT_FAILED = 1  # the run failed, timed out or was terminated
EXIT_USAGE = 2  # bad option, bad setting or unknown workflow id
EXIT_CANCELLED = 3  # the run was cancelled
EXIT_UNREACHABLE = 4  # Temporal could not be reached
EXIT_INTERRUPTED = 130  # Ctrl-C while following; the run itself goes on

EXIT_CODES_HELP = (
    f"exit codes: {EXIT_OK} success, {EXIT_FAILED} run failed, {EXIT_USAGE} usage error, "
    f"{EXIT_CANCELLED} run cancelled, {EXIT_UNREACHABLE} Temporal unreachable, {EXIT_INTERRUPTED} interrupted"
)

# Options that override a setting: flag --x-y sets field x_y (env X_Y). Help text per field.
SETTING_HELP: dict[str, str] = {
    "log_level": "log level",
    "log_format": "log format: console (humans) or json (one object per line)",
    "task_queue": "Temporal task queue",
    "output_url": "where this worker writes parts and manifests: a path, file:///abs/path, s3://bucket/prefix, "
                  "gs://bucket/prefix or az://container/prefix",
    "batch_size": "tables read per batch (one part file and one checkpoint per batch)",
    "slice_size": "tables per slice (one activity per slice)",
    "slices_per_child": "slices per child workflow",
    "max_parallel_slices": "slice activities running at once per child",
    "heartbeat_timeout_seconds": "activity heartbeat timeout; cancellation reaches activities within it",
    "activity_max_attempts": "attempts per activity before the run fails",
    "state_store_url": "checkpoint store (SQLAlchemy async URL)",
    "max_concurrent_activities": "activities this worker runs at once",
    "graceful_shutdown_seconds": "on SIGTERM, time in-flight activities get to finish",
    "health_port": "port of the /livez and /readyz probes",
    "metrics_port": "port of the Prometheus metrics (0 disables)",
}
COMMON_SETTINGS = ("log_level", "log_format")
RUN_SETTINGS = ("task_queue", "batch_size", "slice_size", "slices_per_child",
                "max_parallel_slices", "heartbeat_timeout_seconds", "activity_max_attempts")
WORKER_SETTINGS = ("task_queue", "output_url", "state_store_url", "max_concurrent_activities",
                   "graceful_shutdown_seconds", "health_port", "metrics_port")
PER_RUN = "[per run; no env var]"
DEV_SOURCE = "a generated SQLite sample"  # variant: source=postgresql,mysql,sqlite
DEV_SOURCE = "the local demo API"  # variant: source=rest
DEV_BATCH_SIZE = 2  # variant: source=postgresql,mysql,sqlite
DEV_BATCH_SIZE = 25  # variant: source=rest


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=APP_SLUG,
        description=f"{app_metadata('Summary')} A Temporal worker does the work; this command starts, follows, "
                    "inspects and cancels runs, or does everything in one process (dev).",
        epilog=f"`{APP_SLUG} COMMAND --help` lists a command's options and their env vars. "
               f"Temporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*. "
               f"{EXIT_CODES_HELP}.",
    )
    p.add_argument("--version", action="version", version=f"{APP_SLUG} {app_metadata('Version')}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _command(sub, "worker", "run a worker until SIGTERM, then drain", WORKER_SETTINGS)

    ex = _command(sub, "extract", "start an extraction and wait for its summary", RUN_SETTINGS)
    ex.add_argument("--source", default="default",
                    help=f"source name; workers read its DSN from SOURCE_<NAME>_DSN (default: default) {PER_RUN}")
    ex.add_argument("--schemas", metavar="REGEX", help=f"only schemas matching this regex {PER_RUN}")
    ex.add_argument("--workflow-id", help=f"reuse a failed run's id to resume from its checkpoints {PER_RUN}")
    mode = ex.add_mutually_exclusive_group()
    mode.add_argument("--follow", action="store_true",
                      help=f"show live progress (schemas, tables, rate, ETA) until the run ends {PER_RUN}")
    mode.add_argument("--detach", action="store_true",
                      help=f"print the workflow id and return at once; see `status` {PER_RUN}")

    st = _command(sub, "status", "print a run's state and progress snapshot, or follow it to its end", ())
    st.add_argument("workflow_id", help="the run's workflow id (printed by extract)")
    st.add_argument("--follow", action="store_true",
                    help=f"show live progress until the run ends, then its summary, as extract --follow {PER_RUN}")

    ca = _command(sub, "cancel", "cancel a run; activities stop at their next heartbeat", ())
    ca.add_argument("workflow_id", help="the run's workflow id")
    ca.add_argument("--wait-seconds", type=float, default=60.0,
                    help=f"how long to wait for the run to close; 0 returns at once (default: 60) {PER_RUN}")

    dev = _command(sub, "dev", "start a dev Temporal server + worker and run one extraction with progress",
                   ("task_queue",))
    dev.add_argument("--source-url", help=f"source DSN (default: {DEV_SOURCE}) {PER_RUN}")
    dev.add_argument("--output", metavar="URL",
                     help=f"where the dev worker writes: a folder or object-store URL (default: OUTPUT_URL) {PER_RUN}")
    dev.add_argument("--workdir", type=Path, default=Path(".dev"),
                     help=f"sample db and state store folder (default: .dev) {PER_RUN}")
    dev.add_argument("--batch-size", type=int, default=DEV_BATCH_SIZE,
                     help=f"small on purpose so the sample's progress moves (default: {DEV_BATCH_SIZE}) {PER_RUN}")
    dev.add_argument("--slice-size", type=int, default=4, help=f"tables per slice (default: 4) {PER_RUN}")
    return p


def app_metadata(field: str) -> str:
    """A field of the installed distribution's metadata (``pyproject.toml``: ``Version``, ``Summary``)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return str(metadata(APP_SLUG)[field] or "")
    except PackageNotFoundError:  # run from a bare tree
        return "unknown" if field == "Version" else ""


def _command(sub: Any, name: str, help_text: str, settings: tuple[str, ...]) -> argparse.ArgumentParser:
    cmd: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text,
                                                  epilog=EXIT_CODES_HELP)
    for field in (*COMMON_SETTINGS, *settings):
        _setting_option(cmd, field)
    return cmd


def _setting_option(cmd: argparse.ArgumentParser, field: str) -> None:
    default = _SETTING_DEFAULTS[field]
    cmd.add_argument(
        f"--{field.replace('_', '-')}", dest=f"setting_{field}",
        metavar=_METAVARS.get(_SETTING_TYPES[field], field.split("_")[-1].upper()),
        help=f"{SETTING_HELP[field]} [env: {field.upper()}, default: {default}]",
    )


_SETTING_DEFAULTS = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}
_SETTING_TYPES = {f.name: str(f.type) for f in fields(Settings)}
_METAVARS = {"int": "N", "float": "SECONDS", "Path": "PATH"}


def setting_overrides(args: argparse.Namespace) -> dict[str, str]:
    """Env-style overrides (``BATCH_SIZE=...``) from the options the user gave."""
    prefix = "setting_"
    return {k[len(prefix):].upper(): str(v) for k, v in vars(args).items() if k.startswith(prefix) and v is not None}


CLIENT_COMMANDS = frozenset({"extract", "status", "cancel"})


def run() -> None:
    """Console-script entry point: ``main()``, then exit with its code.

    Client-only commands leave through ``os._exit`` once their output is
    flushed. The Temporal client's native threads can otherwise abort the
    interpreter's shutdown (temporalio/sdk-python#300), turning a finished,
    successful command into a crash (exit 134) that scripts would see.
    """
    argv = sys.argv[1:]
    code = main(argv)
    if argv and argv[0] in CLIENT_COMMANDS:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error and 0 after --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    load_dotenv(".env", override=False)
    try:
        settings = Settings.from_env({**os.environ, **setting_overrides(args)}, dotenv_path=None)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    try:
        return asyncio.run(dispatch(args, settings, Console()))
    except KeyboardInterrupt:
        print("\ninterrupted; a started run goes on: use `status` or `cancel` with its workflow id", file=sys.stderr)
        return EXIT_INTERRUPTED


async def dispatch(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    """Run one command; Temporal and workflow errors become exit codes with a readable line."""
    if args.command == "worker":
        from .worker import serve

        return await serve(settings)
    if args.command == "dev":
        return await _dev(args, settings, console)
    from .temporal_client import connect, unreachable

    try:
        client = await connect(settings)
    except RuntimeError as exc:
        console.print(f"[red]{escape(unreachable(settings.temporal_address, exc))}[/red]", soft_wrap=True)
        return EXIT_UNREACHABLE
    from . import runs

    try:
        if args.command == "extract":
            return await _extract(args, settings, client, console)
        handle = runs.get_handle(client, args.workflow_id)
        if args.command == "status" and args.follow:
            await handle.describe()  # an unknown id is a usage error here too, not a wait for nothing
            return await await_summary(handle, console, follow=True, unserved=runs.unserved_check(client, settings))
        if args.command == "status":
            return exit_code(await runs.status(handle, console))
        wait = timedelta(seconds=args.wait_seconds) if args.wait_seconds > 0 else None
        state, requested = await runs.cancel(handle, wait)
        name = state.name if state else "UNKNOWN"
        if not requested:  # nothing left to stop is what cancel wants: not an error
            console.print(f"workflow {handle.id}: already {name}; nothing to cancel")
            return EXIT_OK
        console.print(f"workflow {handle.id}: {name}")
        return EXIT_OK
    except WorkflowAlreadyStartedError as exc:
        console.print(f"[red]a run with workflow id {exc.workflow_id!r} is already running[/red]")
        return EXIT_USAGE
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and exc.message.startswith("Namespace "):
            console.print(f"[red]{escape(exc.message)}[/red] (TEMPORAL_NAMESPACE, at {settings.temporal_address})")
            return EXIT_USAGE
        if exc.status == RPCStatusCode.NOT_FOUND:
            console.print(f"[red]no such run:[/red] {args.workflow_id!r}")
            return EXIT_USAGE
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:  # e.g. cancelling a run that already ended
            console.print(f"[red]cannot do that now:[/red] {exc.message}")
            return EXIT_FAILED
        raise


def exit_code(state: WorkflowExecutionStatus | None) -> int:
    """Exit code that mirrors a run's state (for `status` in scripts)."""
    if state in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED,
                 WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return EXIT_OK
    if state == WorkflowExecutionStatus.CANCELED:
        return EXIT_CANCELLED
    return EXIT_FAILED


async def _extract(args: argparse.Namespace, settings: Settings, client: Any, console: Console) -> int:
    from . import runs

    request = runs.build_request(settings, args.source, args.schemas)
    handle = await runs.start(client, settings, request, args.workflow_id or runs.default_workflow_id(args.source))
    console.print(f"started workflow {handle.id}", soft_wrap=True)
    if args.detach:
        return EXIT_OK
    return await await_summary(handle, console, follow=args.follow, unserved=runs.unserved_check(client, settings))


async def await_summary(handle: Any, console: Console, follow: bool, unserved: Any = None) -> int:
    """Wait for the run (showing progress if ``follow``), print its summary, return the exit code.

    ``unserved`` (``runs.unserved_check``) warns while following when no worker polls the task queue.
    """
    from . import runs

    try:
        summary = await (runs.follow(handle, console, unserved=unserved) if follow else handle.result())
    except WorkflowFailureError as exc:
        if isinstance(exc.cause, CancelledError):
            console.print("[yellow]run cancelled[/yellow]")
            return EXIT_CANCELLED
        console.print(f"[red]run failed:[/red] {root_cause(exc)}", soft_wrap=True)
        return EXIT_FAILED
    runs.render_summary(summary, console)
    return EXIT_OK


def root_cause(exc: BaseException) -> BaseException:
    """The innermost Temporal failure cause: the activity's own message."""
    while isinstance(getattr(exc, "cause", None), BaseException):
        exc = exc.cause  # type: ignore[attr-defined]
    return exc


async def _dev(args: argparse.Namespace, settings: Settings, console: Console) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from ..engine.activities import ExtractorActivities
    from ..engine.sink import Sink
    from ..engine.state import StateStore
    from ..sources.sample import create_sample  # variant: source=postgresql,mysql,sqlite
    from ..sources.demo_api import DemoApi  # variant: source=rest
    from . import runs
    from .devserver import start_dev_server
    from .worker import build_worker

    settings = replace(settings, batch_size=args.batch_size, slice_size=max(args.slice_size, args.batch_size))
    workdir = args.workdir.resolve()
    # >>> variant: source=postgresql,mysql,sqlite
    url = args.source_url or f"sqlite:///{create_sample(workdir / 'sample.db')}"
    env = {**os.environ, "SOURCE_DEV_DSN": url}
    # <<< variant
    # >>> variant: source=rest
    demo = None if args.source_url else DemoApi()  # the local demo API, as SQL apps get a sample database
    url = demo.start() if demo else args.source_url
    env = {**os.environ, "SOURCE_DEV_DSN": url, **({"SOURCE_DEV_PASSWORD": str(demo.token)} if demo else {})}
    # <<< variant
    try:
        sink = Sink.from_setting(args.output or settings.output_url, settings.secrets_dir)
    except ValueError as exc:  # a malformed --output
        console.print(f"[red]configuration error:[/red] {exc}", soft_wrap=True)
        return EXIT_USAGE
    console.print(f"starting Temporal dev server; source: {DEV_SOURCE if not args.source_url else 'given URL'}")
    async with await start_dev_server(settings.temporal_namespace) as server:
        state = await StateStore.open(f"sqlite+aiosqlite:///{workdir / 'state.db'}")
        activities = ExtractorActivities(settings, state, env=env, sink=sink)
        try:
            with ThreadPoolExecutor(max_workers=settings.max_concurrent_activities) as pool:
                async with build_worker(server.client, settings, activities, pool):
                    request = runs.build_request(settings, "dev", None)
                    handle = await runs.start(server.client, settings, request, runs.default_workflow_id("dev"))
                    console.print(f"started workflow {handle.id}", soft_wrap=True)
                    return await await_summary(handle, console, follow=True)
        finally:
            await activities.close()
            await state.close()
            if demo:  # variant: source=rest
                demo.stop()  # variant: source=rest


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
