"""Bounded event-time state of one reading stream: a ring buffer, rolling statistics, EWMA and a
robust personal baseline. Pure numpy, no I/O, no clock.

- `RingWindow` keeps the last `capacity` finalised readings (time, value) in event-time order,
  in two small numpy arrays, plus an EWMA updated in O(1). Rolling statistics over a trailing
  time span (mean, SD, min, max, least-squares slope) are computed on demand over at most
  `capacity` points: cheaper than maintaining running sums that drift, and exact.
- `Baseline` keeps a time-stratified sample of the last `days` days (at most one reading per
  `bucket_s` per day, the earliest in event time, so the sample does not depend on arrival
  order) and per-day means. The baseline is the median and MAD of the sample: robust to the
  very episodes we want to detect.

Times are float seconds since the Unix epoch (UTC); values are in the metric's canonical unit.
Both classes serialise to compact bytes for Faust tables (`to_bytes` / `from_bytes`).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
DAY_S = 86_400.0
MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


@dataclass(frozen=True, slots=True)
class RollingStats:
    n: int
    mean: float
    sd: float
    minimum: float
    maximum: float
    slope_per_s: float  # least squares; 0 when fewer than two distinct times


class RingWindow:
    """The last `capacity` readings of a stream, oldest first, appended in event-time order."""

    __slots__ = ("_times", "_values", "alpha", "ewma", "last_t", "last_v", "n")

    def __init__(self, capacity: int, alpha: float = 0.3) -> None:
        if capacity < 2 or not 0 < alpha <= 1:
            raise ValueError("capacity >= 2 and 0 < alpha <= 1")
        self._times: F64 = np.zeros(capacity, np.float64)
        self._values: F32 = np.zeros(capacity, np.float32)
        self.n = 0
        self.alpha = alpha
        self.ewma = math.nan
        self.last_t = -math.inf  # the newest reading, as Python floats: the hot path reads it
        self.last_v = math.nan

    @property
    def capacity(self) -> int:
        return len(self._times)

    def append(self, t: float, value: float) -> None:
        if t < self.last_t:
            raise ValueError("readings must be appended in event-time order")
        if self.n == self.capacity:  # shift left by one: O(capacity) but capacity is small
            self._times[:-1] = self._times[1:]
            self._values[:-1] = self._values[1:]
            self.n -= 1
        self._times[self.n] = t
        self._values[self.n] = value
        self.n += 1
        self.last_t, self.last_v = t, value
        self.ewma = (
            value if math.isnan(self.ewma) else self.alpha * value + (1 - self.alpha) * self.ewma
        )

    def last(self, k: int = 1) -> tuple[F64, F32]:
        """Times and values of the last k readings (views; copy before keeping)."""
        lo = max(0, self.n - k)
        return self._times[lo : self.n], self._values[lo : self.n]

    def at_or_before(self, t: float) -> tuple[float, float] | None:
        """(time, value) of the latest reading at or before t."""
        if self.last_t <= t:  # usually the newest one
            return None if self.n == 0 else (self.last_t, float(np.float32(self.last_v)))
        i = int(np.searchsorted(self._times[: self.n], t, side="right")) - 1
        return None if i < 0 else (float(self._times[i]), float(self._values[i]))

    def since(self, t0: float) -> tuple[F64, F32]:
        """Readings with time > t0."""
        times = self._times[: self.n]
        lo = int(np.searchsorted(times, t0, side="right"))
        return times[lo:], self._values[lo : self.n]

    def stats(self, span_s: float, now_t: float) -> RollingStats | None:
        """Rolling statistics over readings in (now_t - span_s, now_t]."""
        times, values = self.since(now_t - span_s)
        keep = times <= now_t
        times, v = times[keep], values[keep].astype(np.float64)
        if len(v) == 0:
            return None
        return RollingStats(
            n=len(v),
            mean=float(v.mean()),
            sd=float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            minimum=float(v.min()),
            maximum=float(v.max()),
            slope_per_s=least_squares_slope(times, v),
        )

    def to_bytes(self) -> bytes:
        head = struct.pack("<HHd", self.capacity, self.n, self.ewma)
        return head + self._times[: self.n].tobytes() + self._values[: self.n].tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, alpha: float) -> RingWindow:
        capacity, n, ewma = struct.unpack_from("<HHd", data)
        w = cls(capacity, alpha)
        off = struct.calcsize("<HHd")
        w._times[:n] = np.frombuffer(data, np.float64, n, off)
        w._values[:n] = np.frombuffer(data, np.float32, n, off + 8 * n)
        w.n, w.ewma = n, ewma
        if n:
            w.last_t, w.last_v = float(w._times[n - 1]), float(w._values[n - 1])
        return w


def least_squares_slope(times: F64, values: F64) -> float:
    """Slope of the least-squares line through the points (units per second)."""
    if len(times) < 2:
        return 0.0
    t = times - times.mean()
    denom = float((t * t).sum())
    return 0.0 if denom == 0.0 else float((t * (values - values.mean())).sum() / denom)


class Baseline:
    """A personal baseline over `days` days: a time-stratified sample plus daily sums."""

    __slots__ = ("_cache", "_daily", "_day0", "_sample", "_sample_min", "bucket_s", "days")

    _EMPTY_MINUTE = np.iinfo(np.uint16).max

    def __init__(self, days: int = 28, bucket_s: float = 3 * 3600.0) -> None:
        per_day = int(DAY_S // bucket_s)
        self.days, self.bucket_s = days, bucket_s
        self._day0 = -1  # absolute day number of slot 0
        self._sample: F32 = np.full((days, per_day), np.nan, np.float32)
        # minute of the day of each sampled reading: the earliest one of its bucket is kept
        self._sample_min: npt.NDArray[np.uint16] = np.full(
            (days, per_day), self._EMPTY_MINUTE, np.uint16
        )
        self._daily: F64 = np.zeros((days, 2), np.float64)  # per day: sum, count
        # (days with data, (median, MAD) or None): recomputed only after the sample changed
        self._cache: tuple[int, tuple[float, float] | None] | None = None

    def add(self, t: float, value: float, *, daily: bool = True) -> None:
        """Add a reading. `daily=False` (late readings, which may be duplicates) updates only
        the sample, which keeps one reading per bucket and so cannot count anything twice."""
        day = int(t // DAY_S)
        if self._day0 < 0:
            self._day0 = day - self.days + 1
        if day > self._day0 + self.days - 1:
            self._roll(day - (self._day0 + self.days - 1))
        slot = day - self._day0
        if slot < 0:
            return  # older than the baseline horizon
        if daily:
            if self._daily[slot, 1] == 0:
                self._cache = None  # one more day with data
            self._daily[slot, 0] += value
            self._daily[slot, 1] += 1
        second = t % DAY_S
        bucket, minute = int(second // self.bucket_s), int(second // 60)
        kept = int(self._sample_min[slot, bucket])
        # earliest minute wins, the lower value within a minute: independent of arrival order
        if minute < kept or (minute == kept and value < self._sample[slot, bucket]):
            self._sample_min[slot, bucket] = minute
            self._sample[slot, bucket] = value
            self._cache = None

    def _roll(self, by: int) -> None:
        by = min(by, self.days)
        self._sample[:-by] = self._sample[by:].copy()
        self._sample[-by:] = np.nan
        self._sample_min[:-by] = self._sample_min[by:].copy()
        self._sample_min[-by:] = self._EMPTY_MINUTE
        self._daily[:-by] = self._daily[by:].copy()
        self._daily[-by:] = 0
        self._day0 += by
        self._cache = None

    def _stats(self) -> tuple[int, tuple[float, float] | None]:
        if self._cache is None:
            values = self._sample[~np.isnan(self._sample)]
            stats = None
            if len(values):
                median = float(np.median(values))
                stats = (median, float(np.median(np.abs(values - median))))
            self._cache = (int((self._daily[:, 1] > 0).sum()), stats)
        return self._cache

    def days_with_data(self) -> int:
        return self._stats()[0]

    def median_mad(self) -> tuple[float, float] | None:
        """(median, MAD) of the sample; None before there is any data."""
        return self._stats()[1]

    def daily_means(self, last_days: int, before_day: int | None = None) -> F64:
        """Means of the days with data among the `last_days` days ending before `before_day`."""
        end = self.days if before_day is None else max(0, min(self.days, before_day - self._day0))
        days = self._daily[max(0, end - last_days) : end]
        with_data = days[days[:, 1] > 0]
        return np.asarray(with_data[:, 0] / with_data[:, 1], np.float64)

    def to_bytes(self) -> bytes:
        head = struct.pack("<HIdi", self.days, self._sample.shape[1], self.bucket_s, self._day0)
        return head + self._sample.tobytes() + self._sample_min.tobytes() + self._daily.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Baseline:
        days, per_day, bucket_s, day0 = struct.unpack_from("<HIdi", data)
        b = cls(days, bucket_s)
        off = struct.calcsize("<HIdi")
        cells = days * per_day
        b._sample = np.frombuffer(data, np.float32, cells, off).reshape(days, per_day).copy()
        off += 4 * cells
        b._sample_min = np.frombuffer(data, np.uint16, cells, off).reshape(days, per_day).copy()
        off += 2 * cells
        b._daily = np.frombuffer(data, np.float64, 2 * days, off).reshape(days, 2).copy()
        b._day0 = day0
        return b
