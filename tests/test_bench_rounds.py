"""How many timed rounds the benchmark harness gives a size (``benchmarks/run.py``)."""

from __future__ import annotations

from .helpers import TEMPLATE, load_module


def test_small_sizes_get_more_rounds_and_never_fewer_than_repeat() -> None:
    rounds = load_module(TEMPLATE / "benchmarks" / "run.py", "bench_run").rounds
    assert [rounds(n, 3, 7) for n in (200, 1000, 5000, 5001, 20000, 100000)] == [7, 7, 7, 3, 3, 3]
    assert rounds(5000, 9, 7) == 9  # --repeat above --small-repeat wins
    assert rounds(100000, 1, 7) == 1
