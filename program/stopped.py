"""The "stopped measuring" rule that knows the plan (issue 11 part 3). Pure: plan items in force,
the latest reading time per metric, the time zone and `now` in; the items missed out.

An item is missed when its latest closed slot (program.slots) had no reading and none came
since. What follows, by the time since the last reading (or since the item started):
- `nurse` False: a tier-1 reminder to the patient ("we have not received your ... since");
- `nurse` True, once the item's grace period (default 3 days for daily items) has passed: the
  scheduler opens a `program.stopped_measuring` alert, which goes through the alerts' three-tier
  path (its tier-1 prompt is the same reminder, never a re-measure prompt; the nurse next).

Must not: read a clock or write anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from program.plans import PlanItem
from program.slots import local_date, slots

RULE_ID = "program.stopped_measuring"
LOOKBACK_DAYS = 9  # a weekly item's latest closed slot is at most 8 local days back


@dataclass(frozen=True, slots=True)
class Stopped:
    item_key: str
    metric: str
    since: float  # epoch seconds: the last reading, or when the item started
    nurse: bool  # the grace period has passed


def last_closed_start(item: PlanItem, zone: ZoneInfo, now: float) -> float | None:
    today = local_date(now, zone)
    starts = [s.start for s in slots(item.schedule, today - timedelta(days=LOOKBACK_DAYS), today,
              zone) if s.end <= now]  # fmt: skip
    return max(starts, default=None)


def check(
    items: Sequence[PlanItem], last: Mapping[str, float], tz: str, now: datetime
) -> list[Stopped]:
    zone, at = ZoneInfo(tz), now.timestamp()
    out = []
    for item in items:
        if not item.in_force(now):
            continue
        seen = max((last.get(m, float("-inf")) for m in item.metrics), default=float("-inf"))
        closed = last_closed_start(item, zone, at)
        if closed is None or seen >= closed:
            continue
        started = item.valid_from.timestamp() if item.valid_from else seen
        since = max(seen, started)
        out.append(Stopped(item.item_key, item.metrics[0], since, at - since >= item.grace_s))
    return out
