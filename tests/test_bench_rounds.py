"""How many timed rounds the benchmark harness gives a size (``benchmarks/run.py``)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from .helpers import TEMPLATE


def harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", TEMPLATE / "benchmarks" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_small_sizes_get_more_rounds_and_never_fewer_than_repeat() -> None:
    rounds = harness().rounds
    assert [rounds(n, 3, 7) for n in (200, 1000, 5000, 5001, 20000, 100000)] == [7, 7, 7, 3, 3, 3]
    assert rounds(5000, 9, 7) == 9  # --repeat above --small-repeat wins
    assert rounds(100000, 1, 7) == 1
