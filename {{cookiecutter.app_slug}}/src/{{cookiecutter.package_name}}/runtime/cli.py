"""Command line, on Typer. RUNTIME: add a command here; the work itself lives in the engine.

The console script is named after the app slug:

    <app> worker                  run a worker until SIGTERM
    <app> extract [--follow]      start an extraction and wait for its summary
    <app> status [--follow] ID    print a run's state and progress (or follow it to its end)
    <app> cancel WORKFLOW_ID      cancel a run; its activities stop at their next heartbeat
    <app> dev                     everything in one process, no setup
    <app> report MANIFEST         one offline HTML page to browse what a run extracted  (SQL sources)
    <app> show MANIFEST [NAME]    the run, a schema or a table as a tree in the terminal  (SQL sources)

Parsing and running are two steps: a command function only turns its options
into a ``Call`` (the settings, validated, plus the per-run options), and
``dispatch`` runs it. Tests drive ``dispatch`` on their own event loop.

Settings come from options, then environment variables (``.env`` is loaded
into the environment first), then secret files; ``--help`` names each
option's variable and default. Exit codes: ``EXIT_*`` below.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
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
    f"Exit codes: {EXIT_OK} success, {EXIT_FAILED} run failed, {EXIT_USAGE} usage error, "
    f"{EXIT_CANCELLED} run cancelled, {EXIT_UNREACHABLE} Temporal unreachable, {EXIT_INTERRUPTED} interrupted."
)
DEV_SOURCE = "a generated SQLite sample"  # variant: source=postgresql,mysql,sqlite
DEV_SOURCE = "the local demo API"  # variant: source=rest
DEV_BATCH_SIZE = 2  # variant: source=postgresql,mysql,sqlite
DEV_BATCH_SIZE = 25  # variant: source=rest
SETTINGS_PANEL = "Settings (each also an env var)"
TEMPORAL_PANEL = "Temporal connection (else Temporal's envconfig: TEMPORAL_* and temporal.toml)"


@dataclass(frozen=True)
class Call:
    """A parsed command line: the command, the settings it runs with, and its per-run options."""

    command: str
    settings: Settings
    options: dict[str, Any] = field(default_factory=dict)


def setting(name: str, panel: str = SETTINGS_PANEL, flag: str | None = None) -> Any:
    """An option that overrides setting ``name``; its help comes from the model and names the variable."""
    info = Settings.model_fields[name]
    default = "unset" if info.default is None else info.default
    return typer.Option(f"--{flag or name.replace('_', '-')}", show_default=False, rich_help_panel=panel,
                        help=f"{info.description} \\[env var: {name.upper()}; default: {default}]")


LogLevel = Annotated[str | None, setting("log_level")]
LogFormat = Annotated[str | None, setting("log_format")]
TaskQueue = Annotated[str | None, setting("task_queue")]
Address = Annotated[str | None, setting("temporal_address", TEMPORAL_PANEL, "address")]
Namespace = Annotated[str | None, setting("temporal_namespace", TEMPORAL_PANEL, "namespace")]
Profile = Annotated[str | None, setting("temporal_profile", TEMPORAL_PANEL, "profile")]
ApiKeyFile = Annotated[Path | None, setting("temporal_api_key_file", TEMPORAL_PANEL, "api-key-file")]
WorkflowId = Annotated[str, typer.Argument(metavar="WORKFLOW_ID", help="the run's workflow id (printed by extract)",
                                          show_default=False)]
Follow = Annotated[bool, typer.Option("--follow", help="show live progress until the run ends, then its summary")]


def connection(address: str | None, namespace: str | None, profile: str | None,
               api_key_file: Path | None) -> dict[str, Any]:
    """The Temporal connection options as setting overrides."""
    return {"temporal_address": address, "temporal_namespace": namespace, "temporal_profile": profile,
            "temporal_api_key_file": api_key_file}


def worker(
    ctx: typer.Context,
    task_queue: TaskQueue = None,
    output_url: Annotated[str | None, setting("output_url")] = None,
    state_store_url: Annotated[str | None, setting("state_store_url")] = None,
    max_concurrent_activities: Annotated[int | None, setting("max_concurrent_activities")] = None,
    graceful_shutdown_seconds: Annotated[float | None, setting("graceful_shutdown_seconds")] = None,
    health_port: Annotated[int | None, setting("health_port")] = None,
    metrics_port: Annotated[int | None, setting("metrics_port")] = None,
    address: Address = None, namespace: Namespace = None, profile: Profile = None, api_key_file: ApiKeyFile = None,
    log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Run a worker until SIGTERM, then drain its activities."""
    ctx.obj.call = Call("worker", Settings.load(
        task_queue=task_queue, output_url=output_url, state_store_url=state_store_url,
        max_concurrent_activities=max_concurrent_activities, graceful_shutdown_seconds=graceful_shutdown_seconds,
        health_port=health_port, metrics_port=metrics_port, log_level=log_level, log_format=log_format,
        **connection(address, namespace, profile, api_key_file)))


def extract(
    ctx: typer.Context,
    source: Annotated[str, typer.Option(help="source name; workers read its DSN from SOURCE_<NAME>_DSN")] = "default",
    schemas: Annotated[str | None, typer.Option(metavar="REGEX", help="only schemas matching this regex",
                                                show_default="all")] = None,
    workflow_id: Annotated[str | None, typer.Option(help="reuse a failed run's id to resume from its checkpoints",
                                                    show_default="<source>-<UTC time>")] = None,
    follow: Annotated[bool, typer.Option("--follow", help="show live progress (schemas, tables, rate, ETA) "
                                                          "until the run ends")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="print the workflow id and return at once; "
                                                          "see `status`")] = False,
    task_queue: TaskQueue = None,
    batch_size: Annotated[int | None, setting("batch_size")] = None,
    slice_size: Annotated[int | None, setting("slice_size")] = None,
    slices_per_child: Annotated[int | None, setting("slices_per_child")] = None,
    max_parallel_slices: Annotated[int | None, setting("max_parallel_slices")] = None,
    heartbeat_timeout_seconds: Annotated[float | None, setting("heartbeat_timeout_seconds")] = None,
    activity_max_attempts: Annotated[int | None, setting("activity_max_attempts")] = None,
    address: Address = None, namespace: Namespace = None, profile: Profile = None, api_key_file: ApiKeyFile = None,
    log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Start an extraction and wait for its summary."""
    if follow and detach:
        raise typer.BadParameter("--follow and --detach exclude each other")
    settings = Settings.load(
        task_queue=task_queue, batch_size=batch_size, slice_size=slice_size, slices_per_child=slices_per_child,
        max_parallel_slices=max_parallel_slices, heartbeat_timeout_seconds=heartbeat_timeout_seconds,
        activity_max_attempts=activity_max_attempts, log_level=log_level, log_format=log_format,
        **connection(address, namespace, profile, api_key_file))
    ctx.obj.call = Call("extract", settings, {"source": source, "schemas": schemas, "workflow_id": workflow_id,
                                              "follow": follow, "detach": detach})


def status(
    ctx: typer.Context, workflow_id: WorkflowId, follow: Follow = False,
    address: Address = None, namespace: Namespace = None, profile: Profile = None, api_key_file: ApiKeyFile = None,
    log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Print a run's state and progress, or follow it to its end (any run, also one started with --detach)."""
    settings = Settings.load(log_level=log_level, log_format=log_format,
                             **connection(address, namespace, profile, api_key_file))
    ctx.obj.call = Call("status", settings, {"workflow_id": workflow_id, "follow": follow})


def cancel(
    ctx: typer.Context, workflow_id: WorkflowId,
    wait_seconds: Annotated[float, typer.Option(help="how long to wait for the run to close; 0 returns at once")]
    = 60.0,
    address: Address = None, namespace: Namespace = None, profile: Profile = None, api_key_file: ApiKeyFile = None,
    log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Cancel a run; its activities stop at their next heartbeat. A run that already ended is not an error."""
    settings = Settings.load(log_level=log_level, log_format=log_format,
                             **connection(address, namespace, profile, api_key_file))
    ctx.obj.call = Call("cancel", settings, {"workflow_id": workflow_id, "wait_seconds": wait_seconds})


def dev(
    ctx: typer.Context,
    source_url: Annotated[str | None, typer.Option(help="source DSN", show_default=DEV_SOURCE)] = None,
    output: Annotated[str | None, typer.Option(metavar="URL", help="where the dev worker writes: a folder or "
                                                                  "object-store URL", show_default="OUTPUT_URL")]
    = None,
    workdir: Annotated[Path, typer.Option(help="sample db and state store folder")] = Path(".dev"),
    batch_size: Annotated[int, typer.Option(min=1, help="small on purpose, so the sample's progress moves")]
    = DEV_BATCH_SIZE,
    slice_size: Annotated[int, typer.Option(min=1, help="tables per slice")] = 4,
    task_queue: TaskQueue = None, log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Start a dev Temporal server and a worker, and run one extraction with live progress."""
    settings = Settings.load(task_queue=task_queue, log_level=log_level, log_format=log_format,
                             batch_size=batch_size, slice_size=max(slice_size, batch_size))
    ctx.obj.call = Call("dev", settings, {"source_url": source_url, "output": output, "workdir": workdir.resolve()})


# >>> variant: source=postgresql,mysql,sqlite
Manifest = Annotated[str, typer.Argument(metavar="MANIFEST", show_default=False,
                                         help="a run's manifest.json: a path, file:// or object-store URL "
                                              "(the `manifest:` line of a run's summary)")]


def report(
    ctx: typer.Context, manifest: Manifest,
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML file to write")] = Path("report.html"),
    log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Write one self-contained HTML page to browse a run: tree, search, tables, keys, links both ways."""
    settings = Settings.load(log_level=log_level, log_format=log_format)
    ctx.obj.call = Call("report", settings, {"manifest": manifest, "out": out})


def show(
    ctx: typer.Context, manifest: Manifest,
    name: Annotated[str | None, typer.Argument(metavar="SCHEMA[.TABLE]", show_default=False,
                                               help='a schema or a table; quote names that hold dots: \'"a.b".c\'')]
    = None,
    log_level: LogLevel = None, log_format: LogFormat = None,
) -> None:
    """Print a run, one of its schemas or one table (columns, keys, indexes, partitions) as a tree."""
    settings = Settings.load(log_level=log_level, log_format=log_format)
    ctx.obj.call = Call("show", settings, {"manifest": manifest, "name": name})
# <<< variant


def app_metadata(name: str) -> str:
    """A field of the installed distribution's metadata (``pyproject.toml``: ``Version``, ``Summary``)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        return str(metadata(APP_SLUG)[name] or "")
    except PackageNotFoundError:  # run from a bare tree
        return "unknown" if name == "Version" else ""


def build_app() -> typer.Typer:
    """The Typer app: built on demand, so importing this module reads nothing."""
    app = typer.Typer(
        name=APP_SLUG, no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP,
        help=f"{escape(app_metadata('Summary'))}\n\nA Temporal worker does the work; this command starts, follows, "
             "inspects and cancels runs, or does everything in one process (dev).",
    )
    app.callback()(_root)
    for command in (worker, extract, status, cancel, dev, report, show):  # variant: source=postgresql,mysql,sqlite
    for command in (worker, extract, status, cancel, dev):  # variant: source=rest
        app.command(epilog=EXIT_CODES_HELP)(command)
    return app


def _print_version(wanted: bool) -> None:
    if wanted:
        print(f"{APP_SLUG} {app_metadata('Version')}")
        raise typer.Exit(EXIT_OK)


def _root(
    version: Annotated[bool, typer.Option("--version", help="print the version and exit", is_eager=True,
                                          callback=_print_version, expose_value=False)] = False,
) -> None:
    """Options of the app itself (the commands have their own)."""


@dataclass
class _Parsed:
    call: Call | None = None


def parse(argv: list[str] | None = None) -> Call | int:
    """The ``Call`` of a command line, or an exit code (``--help``, ``--version``, a usage error)."""
    holder = _Parsed()
    command = typer.main.get_command(build_app())
    try:
        command.main(args=argv, prog_name=APP_SLUG, obj=holder)
    except SystemExit as exc:  # standalone Typer always exits: 0 after a command or --help, 2 on bad usage
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        return holder.call if code == EXIT_OK and holder.call else code
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return holder.call or EXIT_OK


def run() -> None:
    """Console-script entry point: ``main()``, then ``leave`` with its code."""
    leave(main(sys.argv[1:]))


def leave(code: int) -> NoReturn:
    """Exit with ``code`` through ``os._exit``, once logs and output are flushed.

    Every command holds a Temporal client or worker, whose native threads can
    crash the interpreter's own shutdown (temporalio/sdk-python#300): a
    finished, successful command, or a worker that drained cleanly, would then
    end in SIGABRT or SIGSEGV, which scripts and Kubernetes would see.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    load_dotenv(".env", override=False)  # SOURCE_<NAME>_DSN there must reach the sources too, not only Settings
    call = parse(argv)
    if isinstance(call, int):
        return call
    configure_logging(call.settings.log_level, call.settings.log_format)
    try:
        return asyncio.run(dispatch(call, Console()))
    except KeyboardInterrupt:
        print("\ninterrupted; a started run goes on: use `status` or `cancel` with its workflow id", file=sys.stderr)
        return EXIT_INTERRUPTED


async def dispatch(call: Call, console: Console) -> int:
    """Run one command; Temporal and workflow errors become exit codes with a readable line."""
    settings, opts = call.settings, call.options
    if call.command == "worker":
        from .worker import serve

        return await serve(settings)
    if call.command == "dev":
        return await _dev(settings, opts, console)
    if call.command in ("report", "show"):  # variant: source=postgresql,mysql,sqlite
        return _look(call, console)  # variant: source=postgresql,mysql,sqlite
    from .temporal_client import TemporalUnreachable, connect

    try:
        client = await connect(settings)
    except TemporalUnreachable as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return EXIT_UNREACHABLE
    from . import runs

    try:
        if call.command == "extract":
            return await _extract(settings, opts, client, console)
        handle = runs.get_handle(client, opts["workflow_id"])
        if call.command == "status" and opts["follow"]:
            await handle.describe()  # an unknown id is a usage error here too, not a wait for nothing
            return await await_summary(handle, console, follow=True, unserved=runs.unserved_check(client, settings))
        if call.command == "status":
            return exit_code(await runs.status(handle, console))
        wait = timedelta(seconds=opts["wait_seconds"]) if opts["wait_seconds"] > 0 else None
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
            console.print(f"[red]no such run:[/red] {opts['workflow_id']!r}")
            return EXIT_USAGE
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:  # e.g. cancelling a run that already ended
            console.print(f"[red]cannot do that now:[/red] {exc.message}")
            return EXIT_FAILED
        raise


# >>> variant: source=postgresql,mysql,sqlite
def _look(call: Call, console: Console) -> int:
    """``report`` or ``show``: read a run's output; output that is not a readable run is a usage error."""
    from .output import BadOutput

    opts, secrets = call.options, call.settings.secrets_dir
    try:
        if call.command == "show":
            from .show import show as print_tree

            print_tree(opts["manifest"], opts["name"], console, secrets)
            return EXIT_OK
        from .report import write_report

        facts = write_report(opts["manifest"], opts["out"], secrets)
    except BadOutput as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)
        return EXIT_USAGE
    except OSError as exc:  # the report's own file: a missing folder's parent, no permission, a full disk
        console.print(f"[red]cannot write {escape(str(opts['out']))}:[/red] {escape(exc.strerror or str(exc))}")
        return EXIT_FAILED
    size = f"{facts.size / 1e6:.1f} MB" if facts.size >= 1e6 else f"{facts.size / 1e3:.0f} kB"
    console.print(f"wrote {escape(str(facts.path))} ({size}): {facts.schemas} schema{'s' * (facts.schemas != 1)}, "
                  f"{facts.tables} tables and views", soft_wrap=True)
    return EXIT_OK
# <<< variant


def exit_code(state: WorkflowExecutionStatus | None) -> int:
    """Exit code that mirrors a run's state (for `status` in scripts)."""
    if state in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED,
                 WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return EXIT_OK
    if state == WorkflowExecutionStatus.CANCELED:
        return EXIT_CANCELLED
    return EXIT_FAILED


async def _extract(settings: Settings, opts: dict[str, Any], client: Any, console: Console) -> int:
    from . import runs

    request = runs.build_request(settings, opts["source"], opts["schemas"])
    workflow_id = opts["workflow_id"] or runs.default_workflow_id(opts["source"])
    handle = await runs.start(client, settings, request, workflow_id)
    console.print(f"started workflow {handle.id}", soft_wrap=True)
    if opts["detach"]:
        return EXIT_OK
    return await await_summary(handle, console, follow=opts["follow"], unserved=runs.unserved_check(client, settings))


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


async def _dev(settings: Settings, opts: dict[str, Any], console: Console) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from ..engine.activities import ExtractorActivities
    from ..engine.sink import Sink
    from ..engine.state import StateStore
    from ..sources.sample import create_sample  # variant: source=postgresql,mysql,sqlite
    from ..sources.demo_api import DemoApi  # variant: source=rest
    from . import runs
    from .devserver import start_dev_server
    from .worker import build_worker

    workdir: Path = opts["workdir"]
    source_url = opts["source_url"]
    # >>> variant: source=postgresql,mysql,sqlite
    url = source_url or f"sqlite:///{create_sample(workdir / 'sample.db')}"
    env = {**os.environ, "SOURCE_DEV_DSN": url}
    # <<< variant
    # >>> variant: source=rest
    demo = None if source_url else DemoApi()  # the local demo API, as SQL apps get a sample database
    url = demo.start() if demo else source_url
    env = {**os.environ, "SOURCE_DEV_DSN": url, **({"SOURCE_DEV_PASSWORD": str(demo.token)} if demo else {})}
    # <<< variant
    try:
        sink = Sink.from_setting(opts["output"] or settings.output_url, settings.secrets_dir)
    except ValueError as exc:  # a malformed --output
        console.print(f"[red]configuration error:[/red] {exc}", soft_wrap=True)
        return EXIT_USAGE
    console.print(f"starting Temporal dev server; source: {DEV_SOURCE if not source_url else 'given URL'}")
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
