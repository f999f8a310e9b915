"""The `vigil` command: one entry point for services, database, processes, demo, tests, benches.

Each subcommand builds the process's settings once (`load_settings`) and passes them down.
Run `vigil --help` for the list; `bin/vigil` bootstraps a virtual environment and forwards here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from ingest.logs import configure as configure_logging
from ingest.retry import describe, frames
from vigil.paths import BENCH_DIR, REPO, SERVICES_SCRIPT
from vigil.settings import Settings, load_settings

log = logging.getLogger("vigil")

Handler = Callable[[argparse.Namespace, Settings], int]


def _report_libraries(settings: Settings) -> None:
    """matplotlib (the report's charts) keeps its font cache under the state directory when
    MPLCONFIGDIR is unset (a service account's home may not be writable); WeasyPrint's and
    fontTools' INFO lines (one per page laid out) stay out of the process's log."""
    import os

    os.environ.setdefault("MPLCONFIGDIR", str((settings.state_dir / "matplotlib").resolve()))
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.WARNING)


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    print(settings.model_dump_json(indent=2))  # SecretStr fields print as '**********'
    print("configuration ok", file=sys.stderr)
    return 0


def cmd_services(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "drop-session":
        from vigil.broker_sessions import SessionError, discard_session

        try:
            for client_id in args.names:
                discard_session(settings, client_id)
                print(f"discarded the broker session {client_id} and its queue")
        except (SessionError, OSError) as exc:
            print(f"vigil services drop-session: {exc}", file=sys.stderr)
            return 1
        return 0
    env = {"VIGIL_STATE_DIR": str(settings.state_dir.resolve())}
    import os

    return subprocess.call(
        [str(SERVICES_SCRIPT), args.action, *args.names], env={**os.environ, **env}
    )


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from vigil.migrate import migrate, storage_mode

    applied = migrate(settings.db.dsn.get_secret_value(), args.mode or settings.db.mode)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    with psycopg.connect(settings.db.dsn.get_secret_value()) as conn:
        print(f"storage mode: {storage_mode(conn)}")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from vigil import runtime

    runner = {"run": runtime.run_embedded, "ingest": runtime.run_ingest, "api": runtime.run_api}
    asyncio.run(runner[args.command](settings))
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.worker import run_worker

    return run_worker(settings)


def cmd_enrol_demo(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.demo import enrol_demo

    token = asyncio.run(enrol_demo(settings, patients=args.patients, seed=args.seed))
    print(token)
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """Issue an API token for one staff member, patient or device and print it (only once: the
    database keeps its SHA-256)."""
    from datetime import timedelta

    import psycopg
    from psycopg_pool import AsyncConnectionPool

    from api.auth import issue_subject_token
    from vigil.runtime import utc_now

    async def issue() -> str:
        dsn = settings.db.dsn.get_secret_value()
        async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
            return await issue_subject_token(
                pool, utc_now(), timedelta(hours=args.ttl_hours),
                staff_id=args.staff, patient_id=args.patient, device_id=args.device,
            )  # fmt: skip

    try:
        print(asyncio.run(issue()))
    except psycopg.errors.ForeignKeyViolation:
        print("no such staff member, patient or device", file=sys.stderr)
        return 1
    return 0


def cmd_staff(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.staff_cli import cmd_staff as run

    return run(args, settings)


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from simulators.cli import simulate

    stats = simulate(
        args,
        host=settings.mqtt.host,
        port=settings.mqtt.port,
        secret=settings.sim.secret.get_secret_value(),
        seq_file=settings.state_dir / "simulator" / "seq.json",
    )
    return 1 if stats.errors or stats.refused else 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.watch import watch

    return asyncio.run(watch(settings, args.token, args.after, args.count))


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.demo import up

    return up(settings, bus=args.bus, patients=args.patients, seed=args.seed)


def cmd_test(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.testing import run_tests

    return run_tests(settings, list(args.pytest_args))


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Readings (JSONL) through the detectors and the escalation in simulated time: one JSON
    line per alert episode, to stdout or --out. No services needed."""
    import json
    from pathlib import Path

    from replay import ReplayInputError, ReplaySettings, read_devices, read_jsonl, replay, to_jsonl

    try:
        with Path(args.file).open(encoding="utf-8") as f:
            readings = read_jsonl(f)
        devices = read_devices(json.loads(Path(args.devices).read_text())) if args.devices else {}
    except (OSError, ReplayInputError, json.JSONDecodeError) as exc:
        print(f"vigil replay: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    from vigil.streaming import build_core

    # the operator as the runners build it from the settings (the same detectors and config)
    settings_ = ReplaySettings(seed=args.seed, operator=lambda: build_core(settings).operator)
    episodes = replay(readings, settings_, devices)
    lines = to_jsonl(episodes)
    if args.out:
        Path(args.out).write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    # The benchmarks are not part of the shipped product: they live in bench/ at the top of a
    # source checkout, outside the packages pyproject.toml installs, so neither a wheel nor the
    # editable install (which maps only the shipped packages) can import them. Run from a
    # checkout, put its root on sys.path; bench/ parses its own flags (`vigil bench --help`).
    if not (BENCH_DIR / "__init__.py").is_file():
        print(f"vigil bench needs a source checkout: no bench/ in {REPO}", file=sys.stderr)
        return 2
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench import main as bench_main

    return bench_main(args.forwarded, settings)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vigil", description="Remote patient monitoring stream processor"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(handler=handler)
        return sp

    add("check-config", cmd_check_config, "validate the settings and print them (secrets masked)")
    sp = add("services", cmd_services, "start, stop or inspect the private service instances")
    sp.add_argument(
        "action", choices=["up", "down", "stop", "crash", "status", "device-cert", "drop-session"]
    )
    sp.add_argument(
        "names",
        nargs="*",
        help="mosquitto, postgres, kafka (default: all); stop: postgres or mosquitto;"
        " crash: mosquitto (kill -9); device-cert: an id; drop-session: broker client ids whose"
        " offline sessions nobody will resume (their queues are discarded)",
    )
    sp = add("db", cmd_db, "apply database migrations and report the storage mode")
    sp.add_argument("action", choices=["migrate"])
    sp.add_argument("--mode", choices=["auto", "timescaledb", "plain"])
    add("run", cmd_run, "run ingest, stream and API in one process (embedded bus)")
    add("ingest", cmd_run, "run the ingest alone, handing readings to Kafka")
    add("api", cmd_run, "run the API alone")
    add("worker", cmd_worker, "run a Faust stream worker (Kafka deployment)")
    sp = add(
        "enrol-demo",
        cmd_enrol_demo,
        "enrol a demo care team, nurse and simulated patients; print a token",
    )
    sp.add_argument("--patients", type=int, default=50)
    sp.add_argument("--seed", type=int, default=1)
    sp = add("token", cmd_token, "issue an API token for a staff member, patient or device")
    who = sp.add_mutually_exclusive_group(required=True)
    who.add_argument("--staff")
    who.add_argument("--patient")
    who.add_argument("--device")
    sp.add_argument("--ttl-hours", type=float, default=12.0)
    sp = add("staff", cmd_staff, "staff accounts that sign in: add, passwd, disable")
    from vigil.staff_cli import add_arguments as staff_arguments

    staff_arguments(sp)
    sp = add("simulate", cmd_simulate, "run simulated patients' devices against the broker")
    from simulators.cli import add_arguments

    add_arguments(sp)
    sp = add("watch", cmd_watch, "print the live alert feed (websocket client)")
    sp.add_argument("--token", required=True)
    sp.add_argument("--after", type=int, default=0)
    sp.add_argument("--count", type=int, default=0, help="exit after this many events (0: never)")
    sp = add("up", cmd_up, "start the whole system with simulated patients; Ctrl-C stops it all")
    sp.add_argument("--bus", choices=["embedded", "kafka"], default="embedded")
    sp.add_argument("--patients", type=int, default=50)
    sp.add_argument("--seed", type=int, default=1)
    add(
        "test",
        cmd_test,
        "lint, type checks and all tests on real services (further arguments go to pytest)",
    )
    sp = add("replay", cmd_replay, "replay recorded readings (JSONL) through the detectors and"
             " the escalation in simulated time; one JSON line per alert episode")  # fmt: skip
    sp.add_argument("file", help="JSONL: device_id, ts, metric, value, unit[, true_value]")
    sp.add_argument("--devices", help="JSON: device_id -> {patient_id, kind, cadence_s}")
    sp.add_argument("--seed", type=int, default=0, help="the simulated patients' answers")
    sp.add_argument("--out", help="write the episodes here instead of stdout")
    help_ = "run a benchmark and print figures (source checkout only; `vigil bench --help`)"
    bench = sub.add_parser("bench", help=help_, description=help_, add_help=False)
    bench.set_defaults(handler=cmd_bench)  # its arguments go to bench/ (see cmd_bench)
    return p


# Every connection needs the generated password (issue 14: no trust, even on the socket).
DATABASE_HINT = (
    "could not reach or sign in to PostgreSQL: is it up (bin/vigil services up postgres), and "
    "does VIGIL_DB__DSN hold the generated password (written to %s by infra/services.sh)?"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "test":
        args.pytest_args = extra
    elif args.command == "bench":
        args.forwarded = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, sys.stderr)
    _report_libraries(settings)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A process stopped by an error still stops loudly (CRITICAL, exit status 1), but without
        # the exception's text: Python's own report would print it, and a database error's text
        # can quote row values (PHI). Class, SQLSTATE and frames say what and where.
        log.critical("vigil %s stopped (%s)\n%s", args.command, describe(exc), frames(exc))
        import psycopg  # (imported lazily, as by the commands)

        if isinstance(exc, psycopg.OperationalError):
            log.critical(DATABASE_HINT, settings.state_dir / "services.env")
        return 1


if __name__ == "__main__":
    sys.exit(main())
