"""The workspace bench's world, written through the product's own functions: care teams of
`TEAM_SIZE` patients (a nurse's caseload) with a nurse, a doctor and a round-the-clock roster, a
charge nurse of every team, open alerts spread over the patients (opened by the pipeline's
writer, `PgAlertStore.record`, escalation included), a blood-pressure reading for every patient
of the first team (the caseload's latest values), and 90 days of 5-minute CGM readings with four
meter readings a day for one patient (stored by the pipeline's sink, `PgReadingStore.write`).

Must not: write product tables with SQL of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from alerts.roster_store import replace_roster
from api import registry
from ingest.bound import BoundMessage
from ingest.contract import DeviceMessage, Measurement
from stream.detections import Detection, Severity, Worse, detection_id
from stream.sink import PgReadingStore
from vigil.demo import demo_roster

TEAM_SIZE = 200
CHARGE = "ui-charge-nurse"
CGM_STEP = timedelta(minutes=5)
METER_STEP = timedelta(hours=6)
CHUNK = 100  # detections per writer transaction, readings per sink batch: x 10

# (rule, severity, metric, unit, value, worse, dangerous): every one opens at tier 2 or 3
_ALERTS = (
    ("bp.crisis", Severity.CRITICAL, "systolic_bp", "mm[Hg]", 192.0, Worse.HIGHER, False),
    ("spo2.severe", Severity.HIGH, "spo2", "%", 87.0, Worse.LOWER, True),
    ("glucose.level2_low", Severity.CRITICAL, "glucose", "mg/dL", 49.0, Worse.LOWER, True),
    ("hr.high", Severity.HIGH, "heart_rate", "/min", 138.0, Worse.HIGHER, False),
)


@dataclass(frozen=True, slots=True)
class World:
    teams: list[str]
    patients: list[str]
    chart_patient: str
    cgm_readings: int


def team_of(i: int) -> str:
    return f"ui-team-{i // TEAM_SIZE:03d}"


def patient_of(i: int) -> str:
    return f"ui-p{i:05d}"


async def enrol(pool: AsyncConnectionPool, patients: int) -> World:
    ids = [patient_of(i) for i in range(patients)]
    teams = sorted({team_of(i) for i in range(patients)})
    async with pool.connection() as conn, conn.transaction(), conn.pipeline():
        for k, team in enumerate(teams):
            await registry.upsert_team(conn, team, f"Ward {k + 1}")
            for role in ("nurse", "doctor"):
                await registry.upsert_staff(conn, f"{role}-{team}", f"{role} {k}", role, [team])
        await registry.upsert_staff(conn, CHARGE, "Charge nurse", "nurse", teams)
        await registry.upsert_staff(conn, "nurse-charge", "Backup nurse", "nurse", teams)
        await registry.upsert_staff(conn, "doctor-oncall", "Backup doctor", "doctor", teams)
        for team in teams:
            await replace_roster(conn, demo_roster(team))
        for i, pid in enumerate(ids):
            await registry.upsert_patient(conn, pid, team_of(i), f"Patient {i + 1:05d}")
    return World(teams, ids, ids[0], 0)


def _detection(pid: str, k: int, now: datetime) -> Detection:
    rule, severity, metric, unit, value, worse, dangerous = _ALERTS[k % len(_ALERTS)]
    device = f"{pid}-kit"
    return Detection(
        id=detection_id(rule, pid, device, k, metric), rule_id=rule, title=rule,
        severity=severity, worse=worse, patient_id=pid, device_id=device, seq=k, metric=metric,
        value=value, unit=unit, measured_at=now - timedelta(minutes=k % 240), dangerous=dangerous,
    )  # fmt: skip


async def open_alerts(pool: AsyncConnectionPool, w: World, n: int, now: datetime) -> None:
    """`n` open alerts, one per patient, spread evenly over all of them."""
    stride = max(1, len(w.patients) // n)
    chosen = [(w.patients[(k * stride) % len(w.patients)], k) for k in range(n)]
    store = PgAlertStore(pool, lambda: now)
    for start in range(0, n, CHUNK):
        await store.record([_detection(pid, k, now) for pid, k in chosen[start : start + CHUNK]])


def _message(device: str, seq: int, at: datetime, metric: str, value: float, unit: str
             ) -> DeviceMessage:  # fmt: skip
    return DeviceMessage(device, seq, at, at, (Measurement(metric, value, unit, value, unit),))


def _cgm(device: str, now: datetime, days: int) -> Iterator[DeviceMessage]:
    steps = int(timedelta(days=days) / CGM_STEP)
    for k in range(steps):
        value = 130.0 + 55.0 * math.sin(k / 45.0) + 20.0 * math.sin(k / 7.0)
        yield _message(device, k + 1, now - k * CGM_STEP, "glucose", round(value, 1), "mg/dL")


async def readings(pool: AsyncConnectionPool, dsn: str, w: World, now: datetime, days: int
                   ) -> World:  # fmt: skip
    """The chart patient's CGM and meter; one BP reading for each patient of the first team."""
    cgm, meter, cuff = (f"{w.chart_patient}-{k}" for k in ("cgm", "meter", "cuff"))
    since = now - timedelta(days=days + 1)
    async with pool.connection() as conn, conn.transaction():
        for device, kind, cadence in ((cgm, "cgm", 300), (meter, "glucometer", None),
                                      (cuff, "bp_cuff", 86400)):  # fmt: skip
            await registry.upsert_device(conn, device, kind, cadence)
            await registry.bind_device(conn, device, w.chart_patient, since,
                                       reason="bench", changed_by="vigil bench ui")  # fmt: skip
    messages = [BoundMessage(w.chart_patient, m, "cgm", 300.0) for m in _cgm(cgm, now, days)]
    steps = int(timedelta(days=days) / METER_STEP)
    messages += [BoundMessage(w.chart_patient, _message(meter, k + 1, now - k * METER_STEP,
                              "glucose", 90.0 + (k % 9) * 15.0, "mg/dL"), "glucometer")
                 for k in range(steps)]  # fmt: skip
    team = [p for i, p in enumerate(w.patients) if team_of(i) == w.teams[0]]
    messages += [BoundMessage(p, _message(cuff, k + 1, now - timedelta(minutes=k),
                              "systolic_bp", 120.0 + k % 40, "mm[Hg]"), "bp_cuff")
                 for k, p in enumerate(team)]  # fmt: skip
    store = PgReadingStore(dsn)
    try:
        for start in range(0, len(messages), CHUNK * 10):
            await store.write(messages[start : start + CHUNK * 10])
    finally:
        await store.close()
    return World(w.teams, w.patients, w.chart_patient, int(timedelta(days=days) / CGM_STEP))
