"""The care program's scheduler (issue 11 parts 3 and 4), a task of the running system: every
`tick_s` it writes the tier-1 messages due in the last `catch_up_s` (program.reminders) and runs
the "stopped measuring" rule (program.stopped) for every patient in the program.

Idempotent across restarts and double runs: message ids are deterministic (written once, ON
CONFLICT DO NOTHING), and so are the stopped-measuring detections (per patient and the time
of the last reading), which go through the alert store (alerts.repository) like the stream's:
a replay changes nothing. When readings resume, a CLEARED detection lets the alert resolve
itself at tier 1 (the patient is thanked) or stay with the nurse who has it.

Tests call `tick(now)` with their own clock; `run` only loops it. A retriable database error is
logged (class only, no text: PHI) and the next tick tries again; anything else propagates.

Must not: decide what is due or who is stopped (the pure modules do), or send over MQTT (the
outbox sender does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from psycopg_pool import AsyncConnectionPool

from alerts.messages import Template, render
from alerts.repository import PgAlertStore
from ingest.logs import ref
from ingest.retry import describe
from program import scheduler_store as store
from program.advice import GROUP_OF
from program.reminders import Outgoing, due_messages, message_id, quiet
from program.slots import local_date
from program.stopped import RULE_ID, Stopped, check
from stream.detections import Detection, Kind, Severity, Worse, detection_id

log = logging.getLogger(__name__)
DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class TickResult:
    messages: int  # new outbox rows
    nurse: int  # stopped-measuring detections handed to the alerts
    cleared: int


class ProgramScheduler:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        alerts: PgAlertStore,
        clock: Callable[[], datetime],
        *,
        tick_s: float = 60.0,
        catch_up_s: float = 3600.0,
        retriable: tuple[type[BaseException], ...] = (),
    ) -> None:
        self._pool, self._alerts, self._clock = pool, alerts, clock
        self._tick_s, self._catch_up_s, self._retriable = tick_s, catch_up_s, retriable

    async def run(self) -> None:
        while True:
            try:
                await self.tick(self._clock())
            except self._retriable as exc:
                log.warning("program scheduler: %s; next tick in %.0f s", describe(exc),
                            self._tick_s)  # fmt: skip
            await asyncio.sleep(self._tick_s)

    async def tick(self, now: datetime) -> TickResult:
        since = now - timedelta(seconds=self._catch_up_s)
        detections: list[Detection] = []
        async with self._pool.connection() as conn, conn.transaction():
            patients = await store.enrolled(conn, now.date(), now - timedelta(days=400))
            open_alerts = await store.open_stopped(conn)
            messages: list[Outgoing] = []
            for p in patients:
                try:
                    ZoneInfo(p.prefs.tz)
                except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
                    log.error("patient %s: unknown time zone; no program messages",
                              ref(p.patient_id))  # fmt: skip
                    continue
                group = next((GROUP_OF[i.template] for i in p.items if i.template in GROUP_OF),
                             "general")  # fmt: skip
                messages += due_messages(p.patient_id, p.prefs, p.items, p.medications, group,
                                         since, now)  # fmt: skip
                stopped = check(p.items, p.last, p.prefs.tz, now)
                messages += self._reminders(p, [s for s in stopped if not s.nurse], now)
                detections += _detections(p, stopped, p.patient_id in open_alerts, now)
            written = await store.write_messages(conn, messages)
        await self._alerts.record(detections)
        cleared = sum(d.kind is Kind.CLEARED for d in detections)
        return TickResult(written, len(detections) - cleared, cleared)

    def _reminders(
        self, p: store.Enrolled, stopped: list[Stopped], now: datetime
    ) -> list[Outgoing]:
        """The tier-1 "we have not received ..." reminder, once per item and last reading, sent
        when the patient is not in quiet hours (so a reminder found at night waits for the day)."""
        zone, prefs = ZoneInfo(p.prefs.tz), p.prefs
        if prefs.opt_out or quiet(now.astimezone(zone).time(), prefs.quiet_start, prefs.quiet_end):
            return []
        out = []
        for s in stopped:
            since = datetime.fromtimestamp(s.since, zone)
            body = render(Template.REMINDER, prefs.lang, metric=s.metric, value=0, unit="",
                          rule_id=RULE_ID, since=local_date(s.since, zone))  # fmt: skip
            mid = message_id(p.patient_id, "stopped_measuring", s.item_key, since)
            out.append(Outgoing(mid, p.patient_id, "stopped_measuring", prefs.lang, body,
                                s.item_key, since))  # fmt: skip
        return out


def _detections(p: store.Enrolled, stopped: list[Stopped], open_alert: bool,
                now: datetime) -> list[Detection]:  # fmt: skip
    """FIRED for an item past its grace period; CLEARED when none is and an alert is open."""
    late = [s for s in stopped if s.nurse]
    if late:
        s = min(late, key=lambda x: x.since)
        return [_detection(p.patient_id, s.metric, s.since, (now.timestamp() - s.since) / DAY_S,
                           Kind.FIRED)]  # fmt: skip
    if open_alert:
        latest = max(p.last.values(), default=now.timestamp())
        return [_detection(p.patient_id, "", latest, 0.0, Kind.CLEARED)]
    return []


def _detection(patient_id: str, metric: str, at: float, days: float, kind: Kind) -> Detection:
    seq = int(at)
    return Detection(
        id=detection_id(RULE_ID, patient_id, "", seq, metric, kind), rule_id=RULE_ID,
        title="Stopped measuring (plan)", severity=Severity.MODERATE, worse=Worse.HIGHER,
        patient_id=patient_id, device_id="", seq=seq, metric=metric, value=round(days, 2),
        unit="d", measured_at=datetime.fromtimestamp(at, UTC),
        dangerous=False, kind=kind,
    )  # fmt: skip
