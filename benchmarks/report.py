"""Turn ``results.json`` into a markdown table and a PNG plot (time against tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def markdown(results: dict[str, Any]) -> str:
    runs = results["runs"]
    pg = {r["tables"]: r for r in runs if r["dialect"] == "postgresql"}
    lines = [
        "| source | tables | baseline s (median) | app s (median) | app / baseline | app tables/s "
        "| worker peak RSS MB | time vs previous size | complete |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    previous: dict[str, Any] = {}
    for r in runs:
        prev = previous.get(r["dialect"])
        scale = (f"{r['app_median_s'] / prev['app_median_s']:.2f}x for {r['tables'] / prev['tables']:.0f}x tables"
                 if prev else "")
        lines.append(
            f"| {r['dialect']} | {r['tables']:,} | {r['baseline_median_s']:.2f} | {r['app_median_s']:.2f} "
            f"| {r['ratio']:.2f} | {r['app_tables_per_s']:.0f} | {r['worker_peak_rss_mb']:.0f} | {scale} "
            f"| {'yes' if r['complete'] else 'NO'} |"
        )
        previous[r["dialect"]] = r
    lines += ["", "CPU seconds per run (medians): baseline process | app: extract CLI, worker, Temporal dev server.",
              "PostgreSQL/MariaDB server CPU is not included (shared servers).", "",
              "| source | tables | baseline | CLI | worker | Temporal server |", "|---|---:|---:|---:|---:|---:|"]
    for r in runs:
        c = r.get("cpu_median_s", {})
        lines.append(f"| {r['dialect']} | {r['tables']:,} | {c.get('baseline', 0):.2f} | {c.get('cli', 0):.2f} "
                     f"| {c.get('worker', 0):.2f} | {c.get('temporal_server', 0):.2f} |")
    m = results["machine"]
    lines += ["", f"{m['cpus']} CPUs; load average before {fmt_load(m['load_before'])}, "
              f"after {fmt_load(m.get('load_after', []))}; started {m['started']}; "
              f"{len(runs[0]['app_s']) if runs else 0} timed runs per side, medians."]
    if 5000 in pg and 20000 in pg:
        a, b = pg[5000], pg[20000]
        lines.append(f"20k/5k: time x{b['app_median_s'] / a['app_median_s']:.2f}, "
                     f"peak RSS x{b['worker_peak_rss_mb'] / a['worker_peak_rss_mb']:.2f}.")
    if results.get("settings"):
        lines.append(f"Settings: {results['settings']}")
    return "\n".join(lines) + "\n"


def fmt_load(load: Any) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for dialect, marker in (("postgresql", "o"), ("mysql", "s")):
        runs = sorted((r for r in results["runs"] if r["dialect"] == dialect), key=lambda r: r["tables"])
        if not runs:
            continue
        n = [r["tables"] for r in runs]
        ax.plot(n, [r["app_median_s"] for r in runs], marker=marker, label=f"app extract ({dialect})")
        ax.plot(n, [r["baseline_median_s"] for r in runs], marker=marker, linestyle="--",
                label=f"direct catalog baseline ({dialect})")
    ax.set_xlabel("tables")
    ax.set_ylabel("wall time, s (median, whole process)")
    ax.set_title("Catalog extraction: app end to end vs raw catalog queries")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
