"""A small world for the REST API tests: three care teams, each with a nurse, a doctor and an
admin, two patients with a bound device, readings and an open alert; tokens for every role; and
the app on that database, driven in-process through httpx's ASGI transport (real PostgreSQL).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool

from alerts.repository import PgAlertStore
from alerts.response import PgResponse
from api import registry
from api.app import create_app
from api.auth import issue_subject_token
from api.feed import AlertFeed
from stream.detections import Detection, Severity, Worse, detection_id
from vigil.runtime import build_broker_accounts
from vigil.settings import load_settings

TEAMS = 3
ROLES = ("nurse", "doctor", "admin", "patient", "device", "none", "expired")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Team:
    id: str
    patients: list[str]  # the first one has the device, the readings and the alert
    names: list[str]  # display names: must never appear in another team's answers
    device: str
    alert_id: str = ""


@dataclass
class World:
    tag: str
    teams: list[Team]
    tokens: dict[tuple[int, str], str] = field(default_factory=dict)
    free_device: str = ""

    def staff(self, team: int, role: str) -> str:
        return f"{self.tag}-{role}-{team}"

    def bearer(self, team: int, role: str) -> dict[str, str]:
        token = self.tokens.get((team, role))
        return {"Authorization": f"Bearer {token}"} if token else {}


def crisis(patient_id: str, device_id: str, seq: int, value: float = 190.0) -> Detection:
    return Detection(
        id=detection_id("bp.crisis", patient_id, device_id, seq, "systolic_bp"),
        rule_id="bp.crisis", title="Hypertensive crisis", severity=Severity.CRITICAL,
        worse=Worse.HIGHER, patient_id=patient_id, device_id=device_id, seq=seq,
        metric="systolic_bp", value=value, unit="mm[Hg]",
        measured_at=utc_now() - timedelta(minutes=10) + timedelta(seconds=seq),
        dangerous=False,  # bp.crisis waits for confirmation (stream/rule_thresholds.py)
    )  # fmt: skip


async def _enrol_team(conn: Any, tag: str, i: int) -> Team:
    team = Team(f"{tag}-team-{i}", [], [], f"{tag}-dev-{i}")
    await registry.upsert_team(conn, team.id, f"Team {i}")
    for role in ("nurse", "doctor", "admin"):
        await registry.upsert_staff(conn, f"{tag}-{role}-{i}", f"{role} {i}", role, [team.id])
    for j in range(2):
        pid, name = f"{tag}-p{i}{j}", f"Zed{tag}Name{i}x{j}"
        await registry.upsert_patient(conn, pid, team.id, name)
        team.patients.append(pid)
        team.names.append(name)
    await registry.upsert_device(conn, team.device, "bp_cuff", 86400)
    await registry.bind_device(conn, team.device, team.patients[0], utc_now() - timedelta(days=30),
                               reason="enrolment", changed_by="test")  # fmt: skip
    await _readings(conn, team.patients[0], team.device)
    return team


async def _readings(conn: Any, patient_id: str, device_id: str, n: int = 6) -> None:
    base = utc_now() - timedelta(hours=n)
    for k in range(n):
        at = base + timedelta(hours=k)
        await conn.execute(
            "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit,"
            " orig_value, orig_unit, received_at) VALUES (%s, %s, %s, 'systolic_bp', %s, %s,"
            " 'mm[Hg]', %s, 'mm[Hg]', %s)",
            (at, device_id, k + 1, patient_id, 120.0 + k, 120.0 + k, at),
        )


async def seed(dsn: str, tag: str) -> World:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        async with pool.connection() as conn, conn.transaction():
            teams = [await _enrol_team(conn, tag, i) for i in range(TEAMS)]
            world = World(tag, teams, free_device=f"{tag}-free")
            await registry.upsert_device(conn, world.free_device, "scale", None)
        await PgAlertStore(pool, utc_now).record(
            [crisis(t.patients[0], t.device, 1) for t in teams]
        )
        async with pool.connection() as conn:
            for t in teams:
                cur = await conn.execute(
                    "SELECT id FROM alerts WHERE patient_id = %s", (t.patients[0],)
                )
                row = await cur.fetchone()
                assert row is not None
                t.alert_id = str(row[0])
        await _tokens(pool, world)
    return world


async def _tokens(pool: AsyncConnectionPool, world: World) -> None:
    now, hour = utc_now(), timedelta(hours=1)
    for i, team in enumerate(world.teams):
        for role in ("nurse", "doctor", "admin"):
            world.tokens[i, role] = await issue_subject_token(
                pool, now, hour, staff_id=world.staff(i, role)
            )
        world.tokens[i, "patient"] = await issue_subject_token(
            pool, now, hour, patient_id=team.patients[0]
        )
        world.tokens[i, "device"] = await issue_subject_token(
            pool, now, hour, device_id=team.device
        )
        world.tokens[i, "expired"] = await issue_subject_token(
            pool, now - 2 * hour, hour, staff_id=world.staff(i, "admin")
        )


@contextlib.asynccontextmanager
async def api_client(
    dsn: str, *, actions: bool = True, **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The REST API on `dsn`, in-process; app exceptions surface as 500 answers, not raises.
    `options` go to `create_app` as they are (e.g. `fhir_exports`, `relay`)."""
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        app = create_app(
            pool=pool,
            feed=AlertFeed(pool, dsn),
            clock=options.pop("clock", utc_now),
            allowed_origins=[],
            storage_mode="plain",
            response=PgResponse(pool, utc_now) if actions else None,
            broker=build_broker_accounts(load_settings()),
            **options,
        )
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigil.test") as client:
            yield client
