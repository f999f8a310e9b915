"""The demo: enrol simulated patients, then run the whole system until Ctrl-C.

`enrol_demo` is idempotent: two care teams, a nurse on each and a charge nurse on both, the
simulated cohort's patients and devices (bound from eight days ago, so offline backlogs within
the accepted age attribute correctly), their care program (conditions, medications, plans and
follow-up calls from their kit: `program_enrolment`, program.enrolment), their MQTT credentials,
and a fresh API token for the charge nurse (for programs: `vigil watch`). `demo_logins` gives
the charge nurse, the on-call doctor and a demo admin sign-in names and fresh generated
passwords. The simulator follows the plan with each patient's adherence persona
(simulators.adherence), sending 6.5 days of backlog first, so reminders, "stopped measuring",
risk tiers and callback tasks show at once.

`up` is the README's first command: services, migrations, enrolment, the pipeline processes,
the simulator; it prints the sign-ins and where to look, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from datetime import time as daytime
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg_pool import AsyncConnectionPool

from alerts.roster import Role, Shift, TeamRoster
from alerts.roster_store import replace_roster
from api import device_credentials, registry
from api.auth import Principal, issue_token
from api.staff_accounts import add_staff
from program.enrolment import Enrolment, enrol
from simulators.fleet import SimPatient, cohort, device_password
from vigil.migrate import migrate
from vigil.paths import SERVICES_SCRIPT
from vigil.runtime import build_broker_accounts, utc_now
from vigil.settings import Settings

CHARGE_NURSE = "nurse-charge"
ONCALL_DOCTOR = "doctor-oncall"
DEMO_ADMIN = "admin-demo"
DEMO_TIME_ZONE = "Asia/Shanghai"  # the clinic's; the simulated patients' records say UTC
TOKEN_TTL = timedelta(hours=12)
# (login, staff id, name, role, locale) of the people who sign in to the demo's workspace
DEMO_LOGINS = (
    ("nurse.li", CHARGE_NURSE, "Li Na", "nurse", "en"),
    ("doctor.wang", ONCALL_DOCTOR, "Wang Wei", "doctor", "en"),
    ("admin.zhao", DEMO_ADMIN, "Zhao Min", "admin", "zh-CN"),
)
HISTORY_DAYS = 6.5  # the simulator's backlog at start: adherence and risk have data at once


def demo_roster(team: str) -> TeamRoster:
    """Round the clock: the team's nurse and doctor, the charge nurse and the on-call doctor as
    backups."""
    every_day = frozenset(range(7))
    return TeamRoster(
        team,
        shifts=(
            Shift(f"nurse-{team}", Role.NURSE, "UTC", every_day, daytime(0), daytime(0)),
            Shift(f"doctor-{team}", Role.DOCTOR, "UTC", every_day, daytime(0), daytime(0)),
        ),
        backups={Role.NURSE: (CHARGE_NURSE,), Role.DOCTOR: (ONCALL_DOCTOR,)},
    )


async def enrol_demo(
    settings: Settings,
    *,
    patients: int,
    seed: int,
    prefix: str = "sim",
    dsn: str | None = None,
    program: bool = True,
) -> str:
    """Enrol the cohort (in `dsn`, default the configured database); return a charge-nurse token.
    `program=False` leaves out the care program (conditions, plans, calls): tests of the pipeline
    alone, whose patients would otherwise get plan reminders and "stopped measuring" alerts."""
    dsn = dsn or settings.db.dsn.get_secret_value()
    people = cohort(patients, seed, prefix=prefix)
    teams = sorted({p.team_id for p in people})
    since = utc_now() - timedelta(days=8)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for i, team in enumerate(teams):
            await registry.upsert_team(conn, team, f"Demo ward {i + 1}")
            for role in ("nurse", "doctor"):
                name = f"{role.title()} of {team}"
                await registry.upsert_staff(conn, f"{role}-{team}", name, role, [team])
        await registry.upsert_staff(conn, CHARGE_NURSE, "Charge nurse", "nurse", teams)
        await registry.upsert_staff(conn, ONCALL_DOCTOR, "On-call doctor", "doctor", teams)
        for team in teams:
            await replace_roster(conn, demo_roster(team))
        now = utc_now()
        for p in people:
            await registry.upsert_patient(conn, p.patient_id, p.team_id, f"Patient {p.index + 1}")
            for d in p.devices:
                await registry.upsert_device(
                    conn, d.device_id, d.profile.kind.value, int(d.profile.cadence_s)
                )
                await registry.bind_device(
                    conn,
                    d.device_id,
                    p.patient_id,
                    since,
                    reason="demo enrolment",
                    changed_by="vigil enrol-demo",
                )
            if program:
                await enrol(conn, program_enrolment(p), "vigil enrol-demo", now)
        await conn.commit()
    await provision_devices(settings, dsn, [d.device_id for p in people for d in p.devices])
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        return await issue_token(pool, CHARGE_NURSE, utc_now(), TOKEN_TTL)


async def demo_logins(dsn: str, teams: list[str]) -> list[tuple[str, str, str]]:
    """Sign-ins for the demo (charge nurse, on-call doctor, admin, all on every team) with new
    generated passwords: [(login, role, password)]. Re-running replaces the passwords."""
    out = []
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        for login, staff_id, name, role, locale in DEMO_LOGINS:
            password = secrets.token_urlsafe(12)
            await add_staff(pool, utc_now(), login=login, name=name, role=role, teams=teams,
                            password=password, locale=locale, time_zone=DEMO_TIME_ZONE,
                            staff_id=staff_id)  # fmt: skip
            out.append((login, role, password))
    return out


def program_enrolment(p: SimPatient) -> Enrolment:
    """The care program of a simulated patient: conditions, medications and plans from the kit
    (program.enrolment.KITS); every fourth patient discharged from hospital ten days ago."""
    return Enrolment(
        p.patient_id,
        kinds=[d.profile.kind.value for d in p.devices],
        tz="UTC",
        enrolled_days_ago=30,
        discharged_days_ago=10 if p.index % 4 == 1 else None,
        nurse=f"nurse-{p.team_id}",
    )


async def provision_devices(settings: Settings, dsn: str, device_ids: list[str]) -> None:
    """Give registered simulated devices their MQTT credentials, derived from the simulator's
    secret, by the path the API uses (api.device_credentials: audited, through the broker's
    dynamic-security plugin, effective at once)."""
    secret = settings.sim.secret.get_secret_value()
    passwords = {d: device_password(secret, d) for d in device_ids}
    at = utc_now()
    actor = Principal("vigil enrol-demo", "admin", frozenset(), at)
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await device_credentials.provision(conn, build_broker_accounts(settings), actor, at,
                                           passwords)  # fmt: skip


def _vigil(*args: str) -> list[str]:
    return [sys.executable, "-m", "vigil.cli", *args]


def _spawn(name: str, args: list[str], logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(
    url: str, timeout_s: float, procs: list[subprocess.Popen[bytes]], tls: ssl.SSLContext | None
) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a process exited during start-up; see .vigil/logs/")
        try:
            with urllib.request.urlopen(url, timeout=1, context=tls) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} not healthy within {timeout_s} s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGINT, SIGTERM and SIGHUP all stop the system as Ctrl-C does


def up(settings: Settings, *, bus: str, patients: int, seed: int) -> int:
    """Run the whole system until Ctrl-C, SIGTERM or SIGHUP (a closed terminal), or until one of
    its processes stops; then stop every process it started and the services."""
    # SIGINT too, explicitly: Python turns it into KeyboardInterrupt only when it was not ignored
    # at start, and a shell starts background commands with SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    env = {**os.environ, "VIGIL_STATE_DIR": str(settings.state_dir.resolve())}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        services = ["mosquitto", "postgres"] + (["kafka"] if bus == "kafka" else [])
        subprocess.run([str(SERVICES_SCRIPT), "up", *services], check=True, env=env)
        _start(bus, patients, seed, procs)
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        print("a process stopped; see the logs above. Shutting down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping…", file=sys.stderr)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        _stop(procs)
        subprocess.run([str(SERVICES_SCRIPT), "down"], env=env, check=False)


def _start(bus: str, patients: int, seed: int, procs: list[subprocess.Popen[bytes]]) -> None:
    """Migrate, enrol the demo cohort, start the processes (appended to `procs` as they start,
    so the caller stops them whatever happens) and say where to look."""
    from vigil.settings import load_settings

    settings = load_settings()  # now with the endpoints and secrets services.sh wrote
    migrate(settings.db.dsn.get_secret_value(), settings.db.mode)
    token = asyncio.run(enrol_demo(settings, patients=patients, seed=seed))
    teams = sorted({p.team_id for p in cohort(patients, seed, prefix="sim")})
    logins = asyncio.run(demo_logins(settings.db.dsn.get_secret_value(), teams))
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if bus == "kafka":
        procs += [_spawn(n, _vigil(n), logs) for n in ("ingest", "worker", "api")]
    else:
        procs.append(_spawn("vigil-run", _vigil("run"), logs))
    api = settings.api.base_url
    _wait_healthy(f"{api}/health", 60, procs, settings.api.client_ssl())
    sim = ["simulate", "--patients", str(patients), "--seed", str(seed), "--scenario", "crisis",
           "--adherence", "--history-days", str(HISTORY_DAYS)]  # fmt: skip
    procs.append(_spawn("simulator", _vigil(*sim, "--no-progress"), logs))
    _print_where_to_look(api, token, logins, bus, logs, patients)


def _print_where_to_look(
    api: str, token: str, logins: list[tuple[str, str, str]], bus: str, logs: Path, patients: int
) -> None:
    sign_ins = "\n".join(
        f"  sign in at {api}/ as {login} / {password}   ({role}, every demo team)"
        for login, role, password in logins
    )
    print(
        f"""
Vigil is up ({bus} bus) with {patients} simulated patients; patient sim-p0000 goes into a
hypertensive crisis a few seconds from now.

{sign_ins}

  live alerts (terminal): bin/vigil watch --token {token}
  health:                 {api}/health
  API docs:               {api}/docs
  logs:                   {logs}/

Press Ctrl-C to stop everything (processes and services).
""",
        flush=True,
    )
