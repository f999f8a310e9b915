"""The reference detectors `vigil bench quality` runs next to Vigil on the same readings: when
each would alert. Pure functions over (time, value) sequences in time order.

- `below`: the single-reading rule: alerts on a reading below the threshold, re-arms on the
  next reading at or above it (one per threshold: 70 and 54 mg/dL for glucose).
- `ar2_forecast`: a Nightscout-style AR2 forecast, written from the published description of
  Nightscout's `ar2` plugin: glucose in log space relative to 140 mg/dL,
  y = ln(BG / 140), forecast recursively in 5-min steps with y[k+1] = -0.723 y[k-1] + 1.716 y[k]
  from the last two readings (the last one twice when they are more than 5.1 min apart), over
  30 minutes (6 steps). It alerts when the current reading or a forecast point is below the
  threshold, and re-arms when none is.

Must not: import the detectors under test (a reference must not share their code).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

AR2_REFERENCE_MG_DL = 140.0
AR2_COEFFICIENTS = (-0.723, 1.716)
AR2_STEP_S = 300.0
AR2_STEPS = 6  # 30 min


def below(times: Sequence[float], values: Sequence[float], threshold: float,
          inclusive: bool = False) -> list[float]:  # fmt: skip
    out, armed = [], True
    for t, v in zip(times, values, strict=True):
        low = v <= threshold if inclusive else v < threshold
        if low and armed:
            out.append(t)
        armed = not low
    return out


def ar2_path(previous: float, current: float, steps: int = AR2_STEPS) -> list[float]:
    """The forecast (mg/dL) after `current`, `steps` points 5 min apart."""
    a, b = AR2_COEFFICIENTS
    y0, y1 = math.log(previous / AR2_REFERENCE_MG_DL), math.log(current / AR2_REFERENCE_MG_DL)
    out = []
    for _ in range(steps):
        y0, y1 = y1, a * y0 + b * y1
        out.append(AR2_REFERENCE_MG_DL * math.exp(y1))
    return out


def ar2_forecast(times: Sequence[float], values: Sequence[float], threshold: float) -> list[float]:
    out, armed = [], True
    for k, (t, v) in enumerate(zip(times, values, strict=True)):
        close = k > 0 and t - times[k - 1] < 5.1 * 60.0
        previous = values[k - 1] if close else v
        low = min([v, *ar2_path(previous, v)]) < threshold
        if low and armed:
            out.append(t)
        armed = not low
    return out
