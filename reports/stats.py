"""Plain summary statistics of one series (count, mean, median, minimum, maximum), None-safe
for an empty series. Pure.

Must not: read a clock or the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Stats:
    n: int
    mean: float | None
    median: float | None
    min: float | None
    max: float | None


def stats(v: np.ndarray) -> Stats:
    if v.size == 0:
        return Stats(0, None, None, None, None)
    return Stats(int(v.size), float(np.mean(v)), float(np.median(v)), float(np.min(v)),
                 float(np.max(v)))  # fmt: skip


def share(mask: np.ndarray) -> float | None:
    """The share (0..1) of True in `mask`, None when empty."""
    return None if mask.size == 0 else float(mask.sum()) / mask.size
