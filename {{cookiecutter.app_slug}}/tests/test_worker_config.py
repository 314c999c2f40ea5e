"""How the worker reads what the Helm chart gives it: API key file, versioning variables."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.common import VersioningBehavior
from temporalio.envconfig import ClientConfig
from temporalio.testing import WorkflowEnvironment

from {{ cookiecutter.package_name }}.engine.workflows import ExtractionWorkflow
from {{ cookiecutter.package_name }}.runtime.config import APP_SLUG, ConfigError, Settings
from {{ cookiecutter.package_name }}.runtime.devserver import temporal_cli
from {{ cookiecutter.package_name }}.runtime.runs import build_request
from {{ cookiecutter.package_name }}.runtime.worker import (
    GC_GEN0_THRESHOLD,
    deployment_config,
    temporal_env,
    tune_gc,
)

from .catalogs import sqlite_catalog
from .probes import WorkerProcess, console_script, free_port, wait_for_status


def refused_start(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A worker process started with ``env`` (Temporal unreachable), once it has exited."""
    base = {"PATH": os.environ["PATH"], "TEMPORAL_ADDRESS": "127.0.0.1:9", "HEALTH_PORT": "0", "METRICS_PORT": "0"}
    return subprocess.run([console_script(APP_SLUG), "worker"], env={**base, **env}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(("env", "message"), [
    ({"OUTPUT_URL": "ftp://files.example.com/out"}, "OUTPUT_URL 'ftp://files.example.com/out': unsupported scheme"),
    ({"OUTPUT_URL": "s3://"}, "name the bucket"),
    ({"OUTPUT_DIR": "/data/out"}, "OUTPUT_DIR was renamed to OUTPUT_URL"),
    ({"STATE_STORE_URL": "redis://cache:6379/0"}, "STATE_STORE_URL redis://cache:6379/0: the state store is SQLite"),
    ({"STATE_STORE_URL": "not a url"}, "STATE_STORE_URL not a url: Could not parse"),
])
def test_worker_refuses_a_bad_setting_at_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    """Before it connects anywhere: one line naming the variable, exit 2, no traceback."""
    proc = refused_start(tmp_path, env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "cannot reach Temporal" not in proc.stdout + proc.stderr, "it should not have tried Temporal"


@pytest.mark.parametrize(("url", "cause"), [
    ("postgresql://extractor:{secret}@127.0.0.1:9/state", "Connect call failed"),
    ("sqlite+aiosqlite:///{tmp}/blocked/state.db", "cannot create its folder: [Errno 17] File exists"),
])
def test_worker_refuses_a_state_store_it_cannot_open(tmp_path: Path, url: str, cause: str) -> None:
    """A worker that could not keep checkpoints must not poll: exit 1, one line, password hidden."""
    secret = f"Pw-{uuid.uuid4().hex}"
    (tmp_path / "blocked").write_text("a file where the state folder should be")
    proc = refused_start(tmp_path, {"STATE_STORE_URL": url.format(secret=secret, tmp=tmp_path)})
    out = proc.stdout + proc.stderr
    assert proc.returncode in (1, 2), out
    assert "STATE_STORE_URL " in out and cause in out, out
    assert secret not in out
    assert "Traceback" not in out
    lines = [line for line in out.splitlines() if "STATE_STORE_URL" in line]
    assert len(lines) == 1, out


def test_a_refused_state_store_shows_its_traceback_at_debug_level(tmp_path: Path) -> None:
    proc = refused_start(tmp_path, {"STATE_STORE_URL": "postgresql://x@127.0.0.1:9/state", "LOG_LEVEL": "DEBUG"})
    assert proc.returncode == 1
    assert "Traceback" in proc.stdout + proc.stderr


def test_api_key_file_in_secrets_dir_turns_on_api_key_and_tls(tmp_path: Path) -> None:
    (tmp_path / "TEMPORAL_API_KEY").write_text("key-from-file\n")
    settings = Settings.defaults(secrets_dir=tmp_path)
    env = temporal_env(settings, {"TEMPORAL_ADDRESS": "ns.acct.tmprl.cloud:7233"})
    config = ClientConfig.load_client_connect_config(override_env_vars=env, disable_file=True)
    assert config["api_key"] == "key-from-file"
    assert config["tls"] is True


def test_api_key_env_var_wins_over_the_file_and_no_file_means_no_key(tmp_path: Path) -> None:
    settings = Settings.defaults(secrets_dir=tmp_path)
    assert "TEMPORAL_API_KEY" not in temporal_env(settings, {})
    (tmp_path / "TEMPORAL_API_KEY").write_text("from-file")
    assert temporal_env(settings, {"TEMPORAL_API_KEY": "from-env"})["TEMPORAL_API_KEY"] == "from-env"


def test_tune_gc_freezes_start_up_objects_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_versioning_is_off_unless_both_names_are_set() -> None:
    assert deployment_config({}) is None
    with pytest.raises(ConfigError, match="TEMPORAL_WORKER_BUILD_ID"):
        deployment_config({"TEMPORAL_DEPLOYMENT_NAME": "extractor"})
    with pytest.raises(ConfigError, match="TEMPORAL_VERSIONING_BEHAVIOR"):
        deployment_config({"TEMPORAL_DEPLOYMENT_NAME": "x", "TEMPORAL_WORKER_BUILD_ID": "1",
                           "TEMPORAL_VERSIONING_BEHAVIOR": "SOMETIMES"})
    config = deployment_config({"TEMPORAL_DEPLOYMENT_NAME": "extractor", "TEMPORAL_WORKER_BUILD_ID": "0.1.0",
                                "TEMPORAL_VERSIONING_BEHAVIOR": "pinned"})
    assert config is not None and config.use_worker_versioning
    assert (config.version.deployment_name, config.version.build_id) == ("extractor", "0.1.0")
    assert config.default_versioning_behavior == VersioningBehavior.PINNED


async def test_versioned_worker_process_extracts_once_its_version_is_current(
    temporal: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = temporal.client
    address = client.service_client.config.target_host
    name, build_id = f"extractor-{uuid.uuid4().hex[:8]}", "0.1.0"
    settings = Settings.defaults(task_queue=f"versioned-{uuid.uuid4().hex}")
    health_port = free_port()
    with sqlite_catalog(tmp_path) as catalog:
        env = {
            "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": client.namespace, "TASK_QUEUE": settings.task_queue,
            "TEMPORAL_DEPLOYMENT_NAME": name, "TEMPORAL_WORKER_BUILD_ID": build_id,
            "HEALTH_PORT": str(health_port), "METRICS_PORT": "0", "SOURCE_TEST_DSN": catalog.url,
            "STATE_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'state.db'}",
        }
        worker = await WorkerProcess.start([console_script(APP_SLUG), "worker"], env, tmp_path, "worker")
        try:
            await wait_for_status(health_port, "/readyz", 200, within=20)
            await make_current(address, client.namespace, name, build_id)
            summary = await client.execute_workflow(
                ExtractionWorkflow.run, build_request(settings, "test", None),
                id=f"versioned-{uuid.uuid4().hex}", task_queue=settings.task_queue,
                execution_timeout=timedelta(seconds=60),
            )
        finally:
            await worker.kill()
    assert summary.counts["tables"] + summary.counts["views"] == catalog.counts["tables"] + catalog.counts["views"]


async def make_current(address: str, namespace: str, name: str, build_id: str, within: float = 15) -> None:
    """``temporal worker deployment set-current-version``, retried until the version has polled."""
    cmd = [temporal_cli(), "worker", "deployment", "set-current-version", "--address", address,
           "--namespace", namespace, "--deployment-name", name, "--build-id", build_id, "--yes"]
    deadline = asyncio.get_running_loop().time() + within
    while True:
        proc = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=30)
        if proc.returncode == 0:
            return
        assert asyncio.get_running_loop().time() < deadline, proc.stderr
        await asyncio.sleep(0.5)
