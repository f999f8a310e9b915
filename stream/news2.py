"""NEWS2 scoring (Royal College of Physicians, 2017, chart 1) over the vitals a home kit gives.

Bands are a table, one row per parameter: (upper bound inclusive, points), checked in order.
Home kits measure heart rate, SpO2 and blood pressure, sometimes temperature and respiratory
rate; they never assess consciousness and usually do not know about supplemental oxygen. Missing
parameters are explicit in the result (`missing`), the aggregate is over the parameters present,
and `partial` says so: a partial score is a floor, never a reassurance. SpO2 uses scale 1 (no
hypercapnic respiratory failure is assumed) and air (no supplemental oxygen recorded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

Bands = tuple[tuple[float, int], ...]  # (inclusive upper bound, points), ascending

# Values are integers or one decimal on the chart; bounds sit halfway so that any real value
# falls into exactly one band (e.g. respiratory rate 8.5 scores like 9).
BANDS: Mapping[str, Bands] = MappingProxyType(
    {
        "respiratory_rate": ((8.5, 3), (11.5, 1), (20.5, 0), (24.5, 2), (math.inf, 3)),
        "spo2": ((91.5, 3), (93.5, 2), (95.5, 1), (math.inf, 0)),
        "systolic_bp": ((90.5, 3), (100.5, 2), (110.5, 1), (219.5, 0), (math.inf, 3)),
        "heart_rate": ((40.5, 3), (50.5, 1), (90.5, 0), (110.5, 1), (130.5, 2), (math.inf, 3)),
        "body_temperature": ((35.05, 3), (36.05, 1), (38.05, 0), (39.05, 1), (math.inf, 2)),
    }
)
NOT_MEASURED_AT_HOME = ("consciousness", "supplemental_oxygen")
PARAMETERS = tuple(BANDS)


@dataclass(frozen=True, slots=True)
class News2Score:
    aggregate: int
    points: Mapping[str, int]  # parameter -> points, for those present
    missing: tuple[str, ...]

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    @property
    def max_single(self) -> int:
        return max(self.points.values(), default=0)


def points(parameter: str, value: float) -> int:
    for upper, score in BANDS[parameter]:
        if value <= upper:
            return score
    raise AssertionError("the last band is unbounded")


def score(vitals: Mapping[str, float]) -> News2Score:
    """NEWS2 from the latest value of each parameter present in `vitals`."""
    got = {p: points(p, v) for p, v in vitals.items() if p in BANDS}
    missing = tuple(p for p in PARAMETERS if p not in got) + NOT_MEASURED_AT_HOME
    return News2Score(sum(got.values()), MappingProxyType(got), missing)
