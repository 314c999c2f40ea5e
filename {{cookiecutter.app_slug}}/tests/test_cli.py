"""The CLI against a real Temporal server: extract, status, cancel, exit codes and --help."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.models import ExtractionSummary
from {{ cookiecutter.package_name }}.engine.state import StateStore
from {{ cookiecutter.package_name }}.runtime import cli, runs
from {{ cookiecutter.package_name }}.runtime.config import APP_SLUG, Settings
from {{ cookiecutter.package_name }}.sources.sample import create_sample

from .live import live_worker
from .probes import console_script


@pytest.fixture
def temporal_env(temporal: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> WorkflowEnvironment:
    """Point the CLI's standard TEMPORAL_* variables at the test server."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal.client.service_client.config.target_host)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", temporal.client.namespace)
    return temporal


@pytest.fixture(autouse=True)
def _keep_root_logging_and_environment() -> Iterator[None]:
    """``main`` configures the root logger and loads ``.env`` into the environment: undo both afterwards."""
    root = logging.getLogger()
    handlers, level, environ = root.handlers[:], root.level, dict(os.environ)
    yield
    root.handlers[:], root.level = handlers, level
    os.environ.clear()
    os.environ.update(environ)


def parsed(*argv: str) -> cli.Call:
    call = cli.parse(list(argv))
    assert isinstance(call, cli.Call), f"{argv} did not parse: exit {call}"
    return call


async def run_cli(*argv: str) -> tuple[int, str]:
    """What ``main`` does, minus ``asyncio.run`` (the test already has a loop)."""
    out = StringIO()
    code = await cli.dispatch(parsed(*argv), Console(file=out, width=200))
    return code, out.getvalue()


def slow_run_options(task_queue: str) -> list[str]:
    return ["--task-queue", task_queue, "--source", "test", "--batch-size", "1",
            "--slice-size", "4", "--max-parallel-slices", "1", "--heartbeat-timeout-seconds", "1"]


async def heartbeat_details(client: Client, workflow_id: str) -> dict[str, Any]:
    """The progress a running activity heartbeats: what the Temporal UI shows under Pending Activities."""
    for _ in range(100):
        try:
            desc = await client.get_workflow_handle(workflow_id).describe()
        except RPCError:  # the child is not started yet
            await asyncio.sleep(0.1)
            continue
        for pending in desc.raw_description.pending_activities:
            if pending.heartbeat_details.payloads:
                (details,) = await client.data_converter.decode(pending.heartbeat_details.payloads)
                assert isinstance(details, dict)
                return details
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} has no pending activity with heartbeat details")


async def test_extract_status_cancel_round_trip(
    temporal_env: WorkflowEnvironment, tmp_path: Path, state: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{create_sample(tmp_path / 'sample.db')}"
    # Slices of 4 one-table batches at 0.5 s each outlast the SDK's heartbeat throttling
    # (0.8 x the 1 s timeout), so the cancel lands while an activity is still running.
    async with live_worker(temporal_env.client, state, url, delay=0.5, output=tmp_path / "out") as (config, _):
        code, out = await run_cli("extract", "--detach", *slow_run_options(config.task_queue))
        assert code == cli.EXIT_OK, out
        match = re.search(r"started workflow (\S+)", out)
        assert match, out
        workflow_id = match.group(1)
        details = await heartbeat_details(temporal_env.client, f"{workflow_id}/slices-0000")
        assert details["schema"] == "main", details
        assert re.match(r"slice \d+ \(main\): page \d+/\d+, \d+/\d+ relations", details["status"]), details

        code, out = await run_cli("status", workflow_id)
        assert code == cli.EXIT_OK, out
        assert "RUNNING" in out and re.search(r"extracting: schemas 0/1, relations \d+/26", out), out

        code, out = await run_cli("cancel", workflow_id, "--wait-seconds", "30")
        assert code == cli.EXIT_OK, out
        assert "CANCELED" in out, out

        code, out = await run_cli("status", workflow_id)
        assert code == cli.EXIT_CANCELLED, out
        assert "CANCELED" in out and "cancelled: schemas 0/1" in out, out

    seen = [r for r in caplog.records if r.getMessage().startswith("slice cancelled")]
    assert seen, "no activity saw the cancellation"
    child = temporal_env.client.get_workflow_handle(f"{workflow_id}/slices-0000")
    events = [e.event_type async for e in child.fetch_history_events()]
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in events, "the activity did not acknowledge cancellation"


async def test_extract_follow_succeeds_then_status_shows_the_summary(
    temporal_env: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    url = f"sqlite:///{create_sample(tmp_path / 'sample.db')}"
    async with live_worker(temporal_env.client, state, url, output=tmp_path / "out") as (config, _):
        code, out = await run_cli("extract", "--follow", "--workflow-id", "cli-follow-ok",
                                  "--task-queue", config.task_queue, "--source", "test")
        assert code == cli.EXIT_OK, out
        assert "done: schemas 1/1, relations 26/26" in out and "manifest:" in out, out
        code, out = await run_cli("status", "cli-follow-ok")
        assert code == cli.EXIT_OK, out
        assert "COMPLETED" in out and "columns" in out, out
        code, out = await run_cli("cancel", "cli-follow-ok")
    assert code == cli.EXIT_OK, out  # nothing left to stop: what cancel wants, not an error
    assert "already COMPLETED; nothing to cancel" in out, out


async def test_status_follow_follows_a_detached_run_to_its_summary(
    temporal_env: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    url = f"sqlite:///{create_sample(tmp_path / 'sample.db')}"
    async with live_worker(temporal_env.client, state, url, delay=0.05, output=tmp_path / "out") as (config, _):
        code, out = await run_cli("extract", "--detach", "--workflow-id", "cli-detached",
                                  *slow_run_options(config.task_queue))
        assert code == cli.EXIT_OK, out
        code, out = await run_cli("status", "--follow", "cli-detached")
        assert code == cli.EXIT_OK, out
        assert "done: schemas 1/1, relations 26/26" in out and "manifest:" in out, out
        code, out = await run_cli("status", "--follow", "cli-detached")  # an ended run: its summary at once
        assert code == cli.EXIT_OK and "manifest:" in out, out
    code, out = await run_cli("status", "--follow", "no-such-run")
    assert code == cli.EXIT_USAGE and "no such run" in out, out


async def test_follow_warns_when_no_worker_polls_the_task_queue(temporal_env: WorkflowEnvironment) -> None:
    """Without a worker the bar would sit at 0/? for ever; within seconds the user is told why."""
    call = parsed("extract", "--follow", "--workflow-id", "cli-unserved", "--task-queue", "nobody-polls-this",
                  "--source", "test")
    out = StringIO()
    following = asyncio.ensure_future(cli.dispatch(call, Console(file=out, width=300)))
    try:
        for _ in range(100):  # the warning comes after runs.UNSERVED_AFTER_S
            if "no worker is polling" in out.getvalue() or following.done():
                break
            await asyncio.sleep(0.1)
        assert not following.done(), out.getvalue()
        assert ("warning: no worker is polling task queue 'nobody-polls-this' (TASK_QUEUE) in namespace "
                f"'{temporal_env.client.namespace}'") in out.getvalue(), out.getvalue()
    finally:
        following.cancel()
        await temporal_env.client.get_workflow_handle("cli-unserved").terminate()


def test_version_and_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == cli.EXIT_OK
    assert capsys.readouterr().out == f"{APP_SLUG} 0.1.0\n"  # the installed distribution's, from pyproject.toml
    assert cli.main(["--help"]) == cli.EXIT_OK
    shown = re.sub(r"\s+", " ", capsys.readouterr().out)
    summary = cli.app_metadata("Summary")  # pyproject's description: the answer to cookiecutter's prompt
    assert summary and re.sub(r"\s+", " ", summary) in shown and "door" not in shown, shown


def test_summary_heading_stays_on_one_line_however_long_the_name() -> None:
    """rich wraps a table's title to the table's width; the heading is a line of its own instead."""
    summary = ExtractionSummary(workflow_id="w", database="analytics_warehouse_production_eu_west",
                                dialect="postgresql", manifest="file:///out/manifest.json",
                                counts={"schemas": 1, "tables": 2}, kinds=["schemas", "tables"], parts=2)
    out = StringIO()
    runs.render_summary(summary, Console(file=out, width=80))
    lines = out.getvalue().splitlines()
    assert lines[0] == "postgresql 'analytics_warehouse_production_eu_west'", lines


async def test_console_script_prints_everything_and_exits_with_the_commands_code(
    temporal_env: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    """The real entry point: client commands leave via ``os._exit`` (sdk-python#300), after flushing."""

    async def console(*argv: str) -> tuple[int | None, str]:
        proc = await asyncio.create_subprocess_exec(console_script(APP_SLUG), *argv, cwd=tmp_path,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode, out.decode()

    url = f"sqlite:///{create_sample(tmp_path / 'sample.db')}"
    async with live_worker(temporal_env.client, state, url, output=tmp_path / "out") as (config, _):
        code, out = await console("extract", "--workflow-id", "cli-console-ok", "--task-queue", config.task_queue,
                                  "--source", "test")
    assert code == cli.EXIT_OK, out
    assert "manifest:" in out and out.rstrip().endswith("manifest.json"), out
    assert await console("status", "no-such-run") == (cli.EXIT_USAGE, "no such run: 'no-such-run'\n")


async def test_failed_run_exits_1_with_the_cause(
    temporal_env: WorkflowEnvironment, tmp_path: Path, state: StateStore
) -> None:
    async with live_worker(temporal_env.client, state, "sqlite:///unused.db", output=tmp_path / "out") as (config, _):
        code, out = await run_cli("extract", "--task-queue", config.task_queue, "--source", "missing")
    assert code == cli.EXIT_FAILED, out
    assert "run failed" in out and "SOURCE_MISSING_DSN" in out, out


async def test_unknown_workflow_id_is_a_usage_error(temporal_env: WorkflowEnvironment) -> None:
    code, out = await run_cli("status", "no-such-run")
    assert code == cli.EXIT_USAGE
    assert "no such run" in out


@pytest.mark.parametrize(("address", "cause"), [
    ("127.0.0.1:9", "connection refused"),
    ("no-such-host.invalid:7233", "the host name does not resolve"),
])
async def test_unreachable_temporal_exits_4_with_one_plain_line(
    monkeypatch: pytest.MonkeyPatch, address: str, cause: str,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    code, out = await run_cli("status", "anything")
    assert code == cli.EXIT_UNREACHABLE
    assert f"cannot reach Temporal at {address}: {cause}; check TEMPORAL_ADDRESS" in out, out
    assert "tonic" not in out and len(out.strip().splitlines()) == 1, out


async def test_unknown_namespace_is_a_usage_error_naming_it(
    temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "no-such-namespace")
    code, out = await run_cli("status", "anything")
    assert code == cli.EXIT_USAGE
    assert "Namespace no-such-namespace is not found" in out and "TEMPORAL_NAMESPACE" in out, out


def test_usage_errors_exit_2_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["extract", "--no-such-option"]) == cli.EXIT_USAGE
    assert re.search(r"No such option:? '?--no-such-option", capsys.readouterr().err)  # click's wording varies
    assert cli.main(["extract", "--follow", "--detach"]) == cli.EXIT_USAGE
    assert "--follow and --detach exclude each other" in capsys.readouterr().err
    assert cli.main(["extract", "--batch-size", "0"]) == cli.EXIT_USAGE  # rejected by the Settings model
    assert capsys.readouterr().err == "configuration error: BATCH_SIZE must be greater than or equal to 1, got 0\n"
    monkeypatch.setenv("MAX_PARALLEL_SLICES", "lots")
    assert cli.main(["extract"]) == cli.EXIT_USAGE
    assert "MAX_PARALLEL_SLICES must be a valid integer" in capsys.readouterr().err


def test_dotenv_is_read_and_the_environment_wins_over_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("TASK_QUEUE=from-dotenv\nBATCH_SIZE=7\nSLICE_SIZE=70\n")
    monkeypatch.setenv("BATCH_SIZE", "9")
    calls: list[cli.Call] = []

    async def record(call: cli.Call, console: Console) -> int:
        calls.append(call)
        return cli.EXIT_OK

    monkeypatch.setattr(cli, "dispatch", record)
    assert cli.main(["extract", "--slice-size", "90"]) == cli.EXIT_OK
    (call,) = calls
    assert (call.settings.task_queue, call.settings.batch_size, call.settings.slice_size) == ("from-dotenv", 9, 90)


async def test_connection_options_win_over_the_environment(
    temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--address and --namespace reach the client; a wrong TEMPORAL_ADDRESS in the environment is overridden."""
    address = temporal_env.client.service_client.config.target_host
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")
    code, out = await run_cli("status", "no-such-run", "--address", address)
    assert code == cli.EXIT_USAGE and "no such run" in out, out  # it reached the server
    code, out = await run_cli("status", "x", "--address", address, "--namespace", "no-such-namespace")
    assert code == cli.EXIT_USAGE and "Namespace no-such-namespace is not found" in out, out
    key = tmp_path / "key"
    key.write_text("secret-key\n")
    call = parsed("status", "x", "--api-key-file", str(key), "--profile", "prod")
    assert (call.settings.temporal_api_key_file, call.settings.temporal_profile) == (key, "prod")
    assert cli.parse(["status", "x", "--api-key-file", str(tmp_path / "missing")]) == cli.EXIT_USAGE


def test_shell_completion_completes_commands_and_options(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """What the installed completion script asks the app (``_<APP>_COMPLETE``), answered by Typer."""
    var = f"_{APP_SLUG.upper().replace('-', '_')}_COMPLETE"
    monkeypatch.setenv(var, "complete_bash")
    for words, cword, expected in ((f"{APP_SLUG} ex", "1", "extract"), (f"{APP_SLUG} extract --bat", "2",
                                                                         "--batch-size")):
        monkeypatch.setenv("COMP_WORDS", words)
        monkeypatch.setenv("COMP_CWORD", cword)
        cli.parse([])
        assert capsys.readouterr().out.split() == [expected], words


def test_install_completion_writes_the_script_for_bash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cli.parse(["--install-completion", "bash"]) == cli.EXIT_OK
    script = tmp_path / ".bash_completions" / f"{APP_SLUG}.sh"
    assert f"_{APP_SLUG.upper().replace('-', '_')}_COMPLETE" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_exit_codes_are_distinct() -> None:
    codes = [cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_CANCELLED, cli.EXIT_UNREACHABLE]
    assert len(set(codes)) == len(codes)


COMMANDS = ["worker", "extract", "status", "cancel", "dev", "report", "show"]  # variant: source=postgresql,mysql,sqlite
COMMANDS = ["worker", "extract", "status", "cancel", "dev"]  # variant: source=rest


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_options_env_var_and_default(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps at this width when no terminal is attached
    assert cli.main([command, "--help"]) == cli.EXIT_OK
    shown = re.sub(r"\s+", " ", capsys.readouterr().out)
    group = typer.main.get_command(cli.build_app())
    params = group.commands[command].params  # type: ignore[attr-defined]
    assert group.commands[command].help.split(".")[0] in shown  # type: ignore[attr-defined]
    for param in params:
        if param.name == "help" or param.param_type_name != "option":
            continue
        text = param.help or ""
        env = re.search(r"\[env var: ([A-Z_]+); default: ([^]]+)\]$", text)
        if env:  # a setting: named by its variable, with the model's default
            default = Settings.model_fields[env.group(1).lower()].default
            assert env.group(2) == ("unset" if default is None else str(default)), param.name
        else:  # a per-run option: no variable, but a shown default unless it is a flag
            assert param.is_flag or param.show_default is not False, param.name
            assert param.is_flag or f"[default: {param.default}]" in shown or "[default: (" in shown, param.name
        assert re.sub(r"\s+", " ", text.replace("\\[", "[")) in shown, f"{param.name} missing from --help"


@pytest.mark.parametrize("columns", ["40", "80"])
@pytest.mark.parametrize("command", COMMANDS)
def test_help_renders_at_narrow_widths(command: str, columns: str, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    assert cli.main([command, "--help"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= int(columns) and "Usage:" in out, out


async def test_dev_command_runs_the_demo_end_to_end(tmp_path: Path) -> None:
    """`make dev`: its own dev server and worker, the sample source, progress, the summary."""
    code, out = await run_cli("dev", "--workdir", str(tmp_path / "work"), "--output", str(tmp_path / "out"))
    assert code == cli.EXIT_OK, out
    assert "done: schemas 1/1, relations 26/26, slices 7/7" in out, out  # variant: source=postgresql,mysql,sqlite
    assert "done: endpoints 2/2, records 380/?, slices 2/2" in out, out  # variant: source=rest
    assert re.search(r"manifest: .*manifest\.json", out), out
    # >>> variant: source=postgresql,mysql,sqlite
    manifest = re.search(r"manifest: (\S+)", out)
    assert manifest, out
    await report_and_show(manifest.group(1), tmp_path)


async def report_and_show(manifest: str, tmp_path: Path) -> None:
    """The two commands that look at a run's output, and their exit codes on output that is not a run."""
    code, out = await run_cli("report", manifest, "--out", str(tmp_path / "pages" / "report.html"))
    assert code == cli.EXIT_OK and "wrote" in out and "kB): 1 schema, 26 tables and views" in out, out
    assert (tmp_path / "pages" / "report.html").stat().st_size > 10_000
    code, out = await run_cli("show", manifest, "main.orders")
    assert code == cli.EXIT_OK and "customer_id" in out and "customers" in out, out
    code, out = await run_cli("show", manifest, "main.ordrs")
    assert code == cli.EXIT_USAGE and "orders" in out, out  # the close match is offered
    code, out = await run_cli("report", str(tmp_path / "nothing" / "manifest.json"))
    assert code == cli.EXIT_USAGE and "cannot read the manifest" in out, out
    (tmp_path / "blocker").write_text("a file where the report's folder should be")
    code, out = await run_cli("report", manifest, "--out", str(tmp_path / "blocker" / "report.html"))
    assert code == cli.EXIT_FAILED and "cannot write" in out, out
    # <<< variant
