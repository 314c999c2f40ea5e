"""Turn ``results.json`` into markdown tables and a PNG plot (time and worker memory against tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SERVER_NAME = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}


def markdown(results: dict[str, Any]) -> str:
    runs = results["runs"]
    lines = [
        "| source | tables | rounds | baseline s (median) | app s (median) | app / baseline | app tables/s "
        "| worker peak RSS MB | time vs previous size | load 1-min before → after | complete |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    previous: dict[str, Any] = {}
    for r in runs:
        prev = previous.get(r["dialect"])
        scale = (f"{r['app_median_s'] / prev['app_median_s']:.2f}x for {r['tables'] / prev['tables']:.0f}x tables"
                 if prev else "")
        lines.append(
            f"| {r['dialect']} | {r['tables']:,} | {len(r['app_s'])} | {r['baseline_median_s']:.2f} "
            f"| {r['app_median_s']:.2f} | {r['ratio']:.2f} | {r['app_tables_per_s']:.0f} "
            f"| {r['worker_peak_rss_mb']:.0f} | {scale} "
            f"| {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} | {'yes' if r['complete'] else 'NO'} |"
        )
        previous[r["dialect"]] = r
    lines += ["", "CPU seconds per run (medians): baseline process | app: extract CLI, worker, Temporal dev server "
              "| the database server (PostgreSQL or MariaDB, from /proc: every server process, exited "
              "PostgreSQL backends included) during the baseline and during the app's extract. The servers are "
              "shared, so other clients' queries at the same time count too.", "",
              "| source | tables | baseline | CLI | worker | Temporal server | DB server, baseline | DB server, app |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    unreadable = False
    for r in runs:
        c = r.get("cpu_median_s", {})
        db = []
        for key in ("db_server_baseline", "db_server_app"):
            if key not in c:  # results from before the harness measured it
                db.append("–")
                continue
            value = c[key]
            unreadable |= value is None
            db.append("n/a" if value is None else f"{value:.2f}")
        lines.append(f"| {r['dialect']} | {r['tables']:,} | {c.get('baseline', 0):.2f} | {c.get('cli', 0):.2f} "
                     f"| {c.get('worker', 0):.2f} | {c.get('temporal_server', 0):.2f} | {db[0]} | {db[1]} |")
    if unreadable:
        lines.append("\nn/a: the database server's /proc entries could not be read (not on this machine, "
                     "or hidden), so its CPU is not measured.")
    lines += meltano_section(results)
    lines += scaling_section(results.get("scaling"))
    lines += acceptance(runs, results.get("scaling"))
    m = results["machine"]
    lines += ["", f"{m['cpus']} CPUs; load average before {fmt_load(m['load_before'])}, "
              f"after {fmt_load(m.get('load_after', []))}; started {m['started']}; "
              "medians of each size's timed rounds (`rounds`; one untimed warm-up before them), each round "
              "every side once, back to back."]
    if results.get("settings"):
        lines.append(f"Settings: {results['settings']}")
    return "\n".join(lines) + "\n"


def meltano_section(results: dict[str, Any]) -> list[str]:
    rows = [r for r in results["runs"] if "meltano_median_s" in r]
    if not rows:
        return []
    versions = results.get("meltano", {}).get("versions", {})
    about = ", ".join(f"{k} {v}" for k, v in versions.items())
    lines = ["", "## Meltano tap-postgres --discover vs the app", "",
             f"`tap-postgres --config cfg.json --discover` ({about}) as a whole process, `filter_schemas` set to "
             "the seeded schemas, in the same rounds as the baseline and the app (medians).", "",
             "| tables | tap --discover s | app s | tap / app | DB server CPU, tap s | tap CPU s |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c = r.get("cpu_median_s", {})
        db = c.get("db_server_meltano")
        lines.append(f"| {r['tables']:,} | {r['meltano_median_s']:.2f} | {r['app_median_s']:.2f} "
                     f"| **{r['meltano_over_app']:.2f}** | {'n/a' if db is None else f'{db:.2f}'} "
                     f"| {c.get('meltano', 0):.2f} |")
    for r in rows:
        done = r["meltano_completeness"]
        found, want = done["found"], done["expected"]
        lines += ["", f"What the tap's catalog reports at {r['tables']:,} tables (found / in the database):", ""]
        lines += [f"* {key.replace('_', ' ')}: {found[key]:,} / {want[key]:,}"
                  f"{'' if found[key] == want[key] else ' (**missing**)'}" for key in want]
        expected = r["expected"]
        missing = [f"{k.replace('_', ' ')}" + (f" ({expected[k]:,} in the database)" if expected.get(k) else "")
                   for k in done["not_reported"]]
        lines.append(f"* not reported at all (no such field in its catalog): {', '.join(missing)}")
    return lines


def scaling_section(scaling: dict[str, Any] | None) -> list[str]:
    if not scaling:
        return []
    small, large = scaling["tables"]
    lines = ["", f"## PostgreSQL {large:,} / {small:,} tables, alternating rounds", "",
             f"Both sizes timed again on one fresh worker, round by round ({small:,} then {large:,}, baseline then "
             "app), so each ratio compares runs made in the same minutes.", "",
             "| round | baseline small s | baseline large s | baseline ratio | app small s | app large s "
             "| app ratio |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for i, (bs, bl, br, a_s, al, ar) in enumerate(zip(
            scaling["baseline_small_s"], scaling["baseline_large_s"], scaling["baseline_ratio_per_round"],
            scaling["app_small_s"], scaling["app_large_s"], scaling["app_ratio_per_round"], strict=True), 1):
        lines.append(f"| {i} | {bs:.2f} | {bl:.2f} | {br:.2f}x | {a_s:.2f} | {al:.2f} | {ar:.2f}x |")
    lines += ["", f"Median ratio: app **{scaling['app_ratio_median']:.2f}x**, baseline "
              f"{scaling['baseline_ratio_median']:.2f}x, for {large / small:.0f}x the tables; load "
              f"{scaling['load_before'][0]:.2f} → {scaling['load_after'][0]:.2f}; "
              f"{'complete' if scaling['complete'] else '**INCOMPLETE**'}."]
    return lines


def acceptance(runs: list[dict[str, Any]], scaling: dict[str, Any] | None = None) -> list[str]:
    """Issue 15's figures, each with its target and whether it was met (or not measured).

    100k / 20k comes from the alternating rounds when they ran: the per-size runs of the
    two sizes are minutes apart, and a shared machine drifts in between.
    """
    by = {(r["dialect"], r["tables"]): r for r in runs}
    pg100, pg20 = by.get(("postgresql", 100000)), by.get(("postgresql", 20000))
    checks: list[tuple[str, float | None, str, bool | None]] = []

    def add(label: str, value: float | None, target: float, at_most: bool, unit: str = "x") -> None:
        ok = None if value is None else (value <= target if at_most else value >= target)
        checks.append((label, value, f"{'≤' if at_most else '≥'} {target:g}{unit}", ok))

    if scaling and scaling["tables"] == [20000, 100000]:
        add("PostgreSQL 100k / 20k app time (alternating rounds)", scaling["app_ratio_median"], 5.5, True)
    else:
        add("PostgreSQL 100k / 20k app time", pg100["app_median_s"] / pg20["app_median_s"] if pg100 and pg20 else None,
            5.5, True)
    add("PostgreSQL 100k worker peak RSS", pg100["worker_peak_rss_mb"] if pg100 else None, 250, True, " MB")
    for dialect, n, target in (("mysql", 5000, 1.2), ("postgresql", 5000, 1.1), ("postgresql", 20000, 1.1)):
        r = by.get((dialect, n))
        add(f"{SERVER_NAME[dialect]} {n // 1000}k app / baseline",
            r["app_median_s"] / r["baseline_median_s"] if r else None, target, True)
    r = by.get(("postgresql", 5000))
    add("Meltano tap --discover / app, PostgreSQL 5k",
        r["meltano_median_s"] / r["app_median_s"] if r and "meltano_median_s" in r else None, 10, False)
    lines = ["", "## Acceptance (issue 15)", "", "Ratios of the medians, unrounded against the target.", "",
             "| figure | measured | target | result |", "|---|---:|---:|---|"]
    for label, value, want, ok in checks:
        shown = "not run" if value is None else (f"{value:.0f} MB" if "MB" in want else f"{value:.3f}x")
        verdict = "not measured" if ok is None else "pass" if ok else "**MISS**"
        lines.append(f"| {label} | {shown} | {want} | {verdict} |")
    lines += ["", "App / baseline per size: " + "; ".join(
        f"{SERVER_NAME[r['dialect']]} {r['tables']:,}: {r['ratio']:.2f}x" for r in runs) + "."]
    return lines


def fmt_load(load: Any) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, (ax, mem) = plt.subplots(1, 2, figsize=(12, 4.8))
    sizes: set[int] = set()
    peak = 0.0
    for dialect, marker, color in (("postgresql", "o", "tab:blue"), ("mysql", "s", "tab:orange")):
        runs = sorted((r for r in results["runs"] if r["dialect"] == dialect), key=lambda r: r["tables"])
        if not runs:
            continue
        n = [r["tables"] for r in runs]
        sizes |= set(n)
        ax.plot(n, [r["app_median_s"] for r in runs], marker=marker, color=color, label=f"app extract ({dialect})")
        ax.plot(n, [r["baseline_median_s"] for r in runs], marker=marker, color=color, linestyle="--", alpha=0.7,
                label=f"direct catalog baseline ({dialect})")
        melt = [r for r in runs if "meltano_median_s" in r]
        if melt:
            ax.plot([r["tables"] for r in melt], [r["meltano_median_s"] for r in melt], marker="^", color="tab:green",
                    linestyle=":", label=f"Meltano tap-postgres --discover ({dialect})")
        rss = [r["worker_peak_rss_mb"] for r in runs]
        peak = max(peak, *rss)
        mem.plot(n, rss, marker=marker, color=color, label=f"worker ({dialect})")
    mem.axhline(250, color="tab:red", linestyle=":", linewidth=1, label="target at 100k: 250 MB")
    ax.set_yscale("log")
    ax.set_ylabel("wall time, s (median, whole process, log scale)")
    ax.set_title("App end to end vs raw catalog queries")
    mem.set_ylim(0, max(peak, 250) * 1.15)
    mem.set_ylabel("worker peak RSS, MB (VmHWM)")
    mem.set_title("Worker memory")
    for axis in (ax, mem):
        axis.set_xscale("log")
        axis.set_xticks(sorted(sizes))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("tables (log scale)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
