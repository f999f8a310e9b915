"""A bench's repeated runs become one answer: each numeric figure the median of the runs under
its usual key, with `<key>_spread` [min, max]; everything else as the last run had it; and the
conditions say the machine's cores and load (bench.conditions)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.conditions import conditions, repeated, summarize


def test_each_figure_is_the_median_of_the_runs_with_its_spread() -> None:
    runs = [
        {"writer_events_per_s": 3100, "p99_ms": 40.5, "storage_mode": "plain", "burst": {"n": 1}},
        {"writer_events_per_s": 2900, "p99_ms": 61.0, "storage_mode": "plain", "burst": {"n": 2}},
        {"writer_events_per_s": 3400, "p99_ms": 38.0, "storage_mode": "plain", "burst": {"n": 3}},
    ]
    got = summarize(runs)
    assert got["writer_events_per_s"] == 3100 and isinstance(got["writer_events_per_s"], int)
    assert got["writer_events_per_s_spread"] == [2900, 3400]
    assert got["p99_ms"] == 40.5 and got["p99_ms_spread"] == [38.0, 61.0]
    assert got["storage_mode"] == "plain" and got["burst"] == {"n": 3}  # the last run's
    assert "storage_mode_spread" not in got and "burst_spread" not in got


@pytest.mark.parametrize(
    ("values", "median"),
    [([10, 20], 15), ([1, 2, 3, 4], 2)],  # even counts: ints stay ints (rounded half to even)
)
def test_integer_figures_stay_integers(values: list[int], median: int) -> None:
    assert summarize([{"rps": v} for v in values])["rps"] == median


@pytest.mark.parametrize(
    "odd",
    [
        [{"ok": True}, {"ok": False}, {"ok": True}],  # flags are not figures
        [{"p99_ms": 1.0}, {"p99_ms": math.nan}, {"p99_ms": 2.0}],  # a run without samples
        [{"p99_ms": 1.0}, {}, {"p99_ms": 2.0}],  # a run that did not report it
    ],
)
def test_values_that_are_not_a_figure_of_every_run_are_the_last_runs(
    odd: list[dict[str, Any]],
) -> None:
    got = summarize(odd)
    key = next(iter(odd[-1]))
    assert got[key] == odd[-1][key] and f"{key}_spread" not in got


def test_a_bench_runs_n_times_and_at_least_once() -> None:
    calls: list[int] = []

    def run() -> dict[str, Any]:
        calls.append(1)
        return {"rps": 100 * len(calls)}

    assert repeated(3, run) == {"rps": 200, "rps_spread": [100, 300]}
    calls.clear()
    assert repeated(0, run)["rps"] == 100 and len(calls) == 1


def test_conditions_give_cores_and_the_three_load_averages() -> None:
    c = conditions(None, 3)
    assert c["storage_mode"] is None and c["repeats"] == 3
    assert isinstance(c["cores"], int) and c["cores"] >= 1
    assert len(c["load_avg"]) == 3 and all(x >= 0 for x in c["load_avg"])
