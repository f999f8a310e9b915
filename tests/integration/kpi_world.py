"""Fixed data for the KPI tests: a care team, patients, devices, readings, alerts with their
events and tasks, written straight into a migrated database (the rows the pipeline and the
program would write), and the same readings kept in Python for computations from raw data."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from reports import kpis as k

T0 = datetime(2026, 11, 1, tzinfo=UTC)
PERIOD = k.Period(date(2026, 11, 1), date(2026, 11, 30))
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
HOUR = 3600.0


@dataclass
class World:
    team: str
    readings: list[tuple[datetime, str, str, str, float]] = field(default_factory=list)
    devices: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    seq: int = 0

    async def setup(self, conn: AsyncConnection[Any], patients: list[str]) -> None:
        await conn.execute(
            "INSERT INTO care_teams (id, name) VALUES (%s, %s)", (self.team, self.team)
        )
        for pid in patients:
            await conn.execute(
                "INSERT INTO patients (id, team_id, display_name, created_at)"
                " VALUES (%s, %s, %s, %s)",
                (pid, self.team, pid, T0 - timedelta(days=60)),
            )

    async def device(
        self, conn: AsyncConnection[Any], dev: str, kind: str, cadence: int | None
    ) -> None:
        self.devices[dev] = (kind, cadence)
        await conn.execute(
            "INSERT INTO devices (id, kind, expected_cadence_s) VALUES (%s, %s, %s)",
            (dev, kind, cadence),
        )

    async def add(
        self,
        conn: AsyncConnection[Any],
        pid: str,
        dev: str,
        rows: list[tuple[datetime, str, float]],
    ) -> None:
        params = []
        for at, metric, value in rows:
            self.seq += 1
            self.readings.append((at, pid, dev, metric, value))
            params.append((at, dev, self.seq, metric, pid, value, value, at))
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit,"
                " orig_value, orig_unit, received_at) VALUES (%s, %s, %s, %s, %s, %s, '', %s,"
                " '', %s)",
                params,
            )

    def daily_from_raw(self) -> dict[tuple[datetime, str, str, str], tuple[int, float, int, int]]:
        """What readings_daily must hold, computed here from the readings written."""
        out: dict[tuple[datetime, str, str, str], list[float]] = defaultdict(list)
        for at, pid, dev, metric, value in self.readings:
            day = datetime(at.year, at.month, at.day, tzinfo=UTC)
            out[(day, pid, metric, dev)].append(value)
        return {key: (len(v), sum(v), sum(70 <= x <= 180 for x in v), sum(x < 70 for x in v))
                for key, v in out.items()}  # fmt: skip

    def sums_from_raw(self, patients: list[str], period: k.Period) -> list[k.PatientSums]:
        """Per-patient sums straight from the readings (every patient enrolled all period)."""
        t0 = datetime(period.start.year, period.start.month, period.start.day, tzinfo=UTC)
        t1 = t0 + timedelta(days=period.days)
        out = []
        for pid in sorted(patients):
            mine = [r for r in self.readings if r[1] == pid and t0 <= r[0] < t1]
            glucose = [r for r in mine if r[3] == "glucose"]
            cgm = [r for r in glucose if self.devices[r[2]][0] == "cgm"]
            cadences = [self.devices[r[2]][1] for r in cgm if self.devices[r[2]][1]]
            out.append(k.PatientSums(
                pid, period.days, len({r[0].date() for r in mine}),
                sum(r[3] == "systolic_bp" for r in mine),
                sum(r[4] for r in mine if r[3] == "systolic_bp"),
                sum(r[3] == "diastolic_bp" for r in mine),
                sum(r[4] for r in mine if r[3] == "diastolic_bp"),
                len(glucose), sum(70 <= r[4] <= 180 for r in glucose),
                sum(r[4] < 70 for r in glucose), len(cgm), min(cadences) if cadences else None,
            ))  # fmt: skip
        return out


def bp_days(
    start: datetime, days: int, sbp: float, dbp: float
) -> list[tuple[datetime, str, float]]:
    """Morning and evening home BP for `days` days."""
    rows = []
    for d in range(days):
        for h in (7, 19):
            at = start + timedelta(days=d, hours=h)
            rows += [(at, "systolic_bp", sbp), (at, "diastolic_bp", dbp)]
    return rows


def cgm_day(
    day: datetime, values: list[float], every_s: int = 300
) -> list[tuple[datetime, str, float]]:
    return [(day + timedelta(seconds=i * every_s), "glucose", v) for i, v in enumerate(values)]


async def alert(
    conn: AsyncConnection[Any],
    pid: str,
    rule: str,
    opened: datetime,
    severity: str,
    events: list[tuple[str, datetime, int, dict[str, Any]]],
    outcome: str | None = None,
) -> uuid.UUID:
    """An alert with its events: (kind, at, tier, payload); its final tier is the last event's."""
    aid = uuid.uuid4()
    clocks = {severity: {"1": [900, 0], "2": [HOUR, 4 * HOUR], "3": [4 * HOUR, 48 * HOUR]}}
    status = "resolved" if outcome else "open"
    await conn.execute(
        "INSERT INTO alerts (id, patient_id, rule_id, title, severity, status, metric, unit,"
        " worse, first_value, last_value, worst_value, opened_at, last_seen_at, tier, escalation,"
        " outcome, resolved_at) VALUES (%s, %s, %s, %s, %s, %s, 'glucose', 'mg/dL', 'lower',"
        " 60, 60, 60, %s, %s, %s, %s, %s, %s)",
        (aid, pid, rule, rule, severity, status, opened, opened, events[-1][2],
         Jsonb({"v": 1, "clocks": clocks}), outcome, events[-1][1] if outcome else None),
    )  # fmt: skip
    for kind, at, tier, payload in events:
        await conn.execute(
            "INSERT INTO alert_events (event_id, alert_id, patient_id, kind, at, payload, tier)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (uuid.uuid4(), aid, pid, kind, at, Jsonb(payload), tier),
        )
    return aid


def ack_due(deadline: datetime) -> dict[str, Any]:
    return {"due": "ack", "deadline": deadline.isoformat()}
