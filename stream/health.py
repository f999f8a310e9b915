"""The pipeline watching itself (DESIGN 9.3): no data, a lagging consumer, a refusing database.

Pure: the runner feeds observations with `now` (monotonic seconds) and carries out what comes
back. Each condition is a `Check` in a table; a check raises an alarm once when its condition
has held for its grace period and clears it once when the condition is gone, so a flapping
pipeline does not flood anyone. The runner logs alarms at CRITICAL, shows them on /health and
stores them as technical alerts (once the database takes writes again, if that was the problem).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Observation:
    now: float  # monotonic seconds
    seconds_since_data: float  # since the last batch of readings
    lag: int  # readings waiting (consumer lag, or the embedded queue and broker backlog)
    failing_writes_s: float  # how long the database has refused writes (0: it takes them)


@dataclass(frozen=True, slots=True)
class Check:
    kind: str
    detail: str
    failing: Callable[[Observation, HealthLimits], bool]
    grace_s: Callable[[HealthLimits], float]


@dataclass(frozen=True, slots=True)
class HealthLimits:
    no_data_s: float = 600.0  # a program with devices at minute cadence is never quiet this long
    lag_readings: int = 50_000
    lag_grace_s: float = 60.0
    db_refusing_s: float = 30.0


CHECKS: tuple[Check, ...] = (
    Check("pipeline_no_data", "no readings reached the stream stage",
          lambda o, lim: o.seconds_since_data > lim.no_data_s, lambda lim: 0.0),
    Check("pipeline_lagging", "readings are waiting faster than they are processed",
          lambda o, lim: o.lag > lim.lag_readings, lambda lim: lim.lag_grace_s),
    Check("database_refusing_writes", "the database refuses writes; nothing is acknowledged",
          lambda o, lim: o.failing_writes_s > lim.db_refusing_s, lambda lim: 0.0),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str
    detail: str
    raised: bool  # False: the condition cleared


@dataclass(slots=True)
class PipelineHealth:
    limits: HealthLimits = field(default_factory=HealthLimits)
    _since: dict[str, float] = field(default_factory=dict)  # condition first seen failing
    _raised: set[str] = field(default_factory=set)

    def observe(self, o: Observation) -> list[Alarm]:
        changes = []
        for check in CHECKS:
            if check.failing(o, self.limits):
                first = self._since.setdefault(check.kind, o.now)
                if check.kind not in self._raised and o.now - first >= check.grace_s(self.limits):
                    self._raised.add(check.kind)
                    changes.append(Alarm(check.kind, check.detail, True))
            else:
                self._since.pop(check.kind, None)
                if check.kind in self._raised:
                    self._raised.discard(check.kind)
                    changes.append(Alarm(check.kind, check.detail, False))
        return changes

    @property
    def active(self) -> Mapping[str, str]:
        details = {c.kind: c.detail for c in CHECKS}
        return MappingProxyType({k: details[k] for k in sorted(self._raised)})
