"""The benchmark harness keeps working: a small run, end to end, with complete outputs.

No assertion on time: speed is a benchmark result (``make bench``), not a test. The run
includes Meltano's tap-postgres (installed by the harness with uv, a few seconds from
uv's cache) and the database servers' CPU, which this machine's local servers expose in /proc.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from .helpers import TEMPLATE, run

PG = os.environ.get("TEST_POSTGRES_URL")
MYSQL = os.environ.get("TEST_MYSQL_URL")

NOT_GENERATED = ("check_constraints", "sequences", "types")


@pytest.mark.skipif(not (PG and MYSQL), reason="set TEST_POSTGRES_URL and TEST_MYSQL_URL")
def test_benchmark_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    assert PG and MYSQL
    run([sys.executable, str(TEMPLATE / "benchmarks" / "run.py"), "--sizes", "200,400", "--scaling", "200,400",
         "--mysql-sizes", "40", "--meltano-sizes", "200", "--repeat", "1", "--small-repeat", "2",
         "--pg-dsn", PG, "--mysql-dsn", MYSQL, "--out", str(out), "--workdir", str(tmp_path / "work")],
        cwd=TEMPLATE, timeout=1500)

    results = json.loads((out / "results.json").read_text())
    runs = results["runs"]
    assert [(r["dialect"], r["tables"]) for r in runs] == [("postgresql", 200), ("postgresql", 400), ("mysql", 40)]
    for r in runs:
        assert r["complete"], r
        expected = r["expected"]
        assert expected["tables"] == r["tables"]
        # every entity kind the generator makes is present (it makes no checks, sequences or named types)
        assert min(v for k, v in expected.items() if k not in NOT_GENERATED) > 0, expected
        assert all(expected[k] == 0 for k in NOT_GENERATED), expected
        assert len(r["app_s"]) == len(r["baseline_s"]) == 2  # --small-repeat: every size here is small
        assert r["app_median_s"] > 0 and r["baseline_median_s"] > 0 and r["ratio"] > 0
        assert r["worker_peak_rss_mb"] > 0
        cpu = r["cpu_median_s"]  # the servers are local here, so /proc has them
        assert cpu["db_server_baseline"] >= 0 and cpu["db_server_app"] >= 0, cpu
    pg = runs[0]
    assert results["meltano"]["versions"]["meltanolabs-tap-postgres"], results["meltano"]
    assert pg["meltano_median_s"] > 0 and pg["meltano_over_app"] > 0 and pg["cpu_median_s"]["db_server_meltano"] >= 0
    done, expected = pg["meltano_completeness"], pg["expected"]
    assert {k: done["found"][k] for k in ("tables", "views", "columns", "primary_keys", "schemas")} == {
        k: expected[k] for k in ("tables", "views", "columns", "primary_keys", "schemas")}, done
    assert {"foreign_keys", "unique_constraints", "indexes"} <= set(done["not_reported"]), done
    assert "meltano_s" not in runs[1] and "meltano_s" not in runs[2]
    scaling = results["scaling"]  # 200 and 400 again, alternating, on one worker, --repeat rounds
    assert scaling["tables"] == [200, 400] and scaling["complete"], scaling
    assert all(len(scaling[k]) == 1 for k in ("app_small_s", "app_large_s", "baseline_small_s", "baseline_large_s"))
    assert scaling["app_ratio_median"] == round(scaling["app_large_s"][0] / scaling["app_small_s"][0], 3), scaling
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "results.md").read_text()
    assert "| postgresql | 200 | 2 |" in table and "| mysql | 40 | 2 |" in table
    assert "## Meltano tap-postgres --discover vs the app" in table and "## Acceptance (issue 15)" in table
    assert "## PostgreSQL 400 / 200 tables, alternating rounds" in table

    # plans_postgres.py, with the app the harness installed: every batch query's plans, from its connection
    python = str(tmp_path / "work" / "catalog-extractor" / ".venv" / "bin" / "python")
    database = f"bench_plans_{os.getpid()}"
    seed = [python, str(TEMPLATE / "benchmarks" / "seed.py"), "postgres", "--dsn", PG, "--database", database]
    run([*seed, "--tables", "300"], cwd=TEMPLATE)
    try:
        plans = run([python, str(TEMPLATE / "benchmarks" / "plans_postgres.py"), PG.rsplit("/", 1)[0] + "/" + database],
                    cwd=TEMPLATE)
    finally:
        run([*seed, "--drop"], cwd=TEMPLATE)
    assert "315 tables and views, 3 schemas, batches of 200" in plans, plans
    for query in ("relations", "columns", "constraints", "indexes"):
        assert f"\n{query}: 2 executions, " in plans, plans
    assert "Index Scan pg_class (pg_class_relname_nsp_index)" in plans, plans  # tables by (name, schema)
