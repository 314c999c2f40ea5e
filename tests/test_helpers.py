"""The shared test helpers that judge other runs' output."""

from __future__ import annotations

import pytest

from .helpers import assert_pytest_passed


def test_a_passing_summary_passes_whatever_the_test_ids_say() -> None:
    assert_pytest_passed("0.02s call tests/test_replay.py::test_replays[replay-failed]\n10 passed in 1.72s\n")
    assert_pytest_passed("....s\n4 passed, 1 skipped in 0.50s\n")


@pytest.mark.parametrize("out", ["1 failed, 9 passed in 2.00s\n", "9 passed, 1 error in 2.00s\n",
                                 "9 passed, 2 errors in 2.00s\n", "no tests ran in 0.01s\n", ""])
def test_failures_errors_or_no_passes_fail(out: str) -> None:
    with pytest.raises(AssertionError):
        assert_pytest_passed(out)
