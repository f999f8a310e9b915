"""`vigil bench`: measured figures, printed, with baselines run in the same process.

    vigil bench ingest [--json] [--messages N] [--rounds R]
    vigil bench stream [--json] [--messages N] [--live-s S] [--patients-state N]
    vigil bench quality [--json] [--patients N] [--days D] [--seed S]   (no services needed)
    vigil bench ws [--json] [--clients C] [--events E] [--detections N] [--live-s S]

Human-readable lines first; with --json the last line is one JSON object with the figures. The
benchmark uses its own database (`vigil_bench`, re-created each run; TimescaleDB when installed,
plain PostgreSQL with VIGIL_DB__MODE=plain) and the running broker; run
it on a quiet machine with no other ingest attached to the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from simulators.fleet import cohort
from bench import ingest as bi
from vigil.demo import enrol_demo
from vigil.migrate import migrate
from vigil.settings import Settings

BENCH_DB = "vigil_bench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["ingest", "stream", "quality", "ws"])
    p.add_argument("--json", action="store_true", help="end with one line of JSON")
    p.add_argument(
        "--messages",
        type=int,
        default=None,
        help="device messages per round (ingest: 60,000, so a round lasts seconds; stream: 20,000)",
    )
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (median reported)")
    p.add_argument("--live-s", type=float, default=30.0, help="stream: seconds of live load")
    p.add_argument(
        "--patients-state", type=int, default=100_000, help="stream: patients for state size"
    )
    p.add_argument("--patients", type=int, default=30, help="quality: patients per family")
    p.add_argument("--days", type=float, default=3.0, help="quality: simulated days")
    p.add_argument("--seed", type=int, default=1, help="quality: cohort seed")
    p.add_argument("--clients", type=int, default=100, help="ws: websocket clients of one team")
    p.add_argument("--events", type=int, default=3000, help="ws: alert events in the burst")
    p.add_argument("--detections", type=int, default=300, help="ws: detections for writer rate")


def main(argv: Sequence[str], settings: Settings) -> int:
    """`vigil bench ARGV`: parse the bench's own flags, run it."""
    parser = argparse.ArgumentParser(
        prog="vigil bench", description="run a benchmark and print figures"
    )
    add_arguments(parser)
    return run_bench(parser.parse_args(argv), settings)


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from vigil.paths import SERVICES_SCRIPT

    if args.what == "quality":
        from bench.quality import quality_figures

        figures = quality_figures(args.patients, args.days, args.seed)
        if args.json:
            print(json.dumps(figures))
        return 0

    services = ["mosquitto", "postgres"] + (["kafka"] if args.what == "stream" else [])
    subprocess.run([str(SERVICES_SCRIPT), "up", *services], check=True)
    from vigil.settings import load_settings

    settings = load_settings()
    if args.what == "ingest":
        figures = asyncio.run(_ingest(settings, args.messages or 60_000, args.rounds))
    elif args.what == "ws":
        from bench.ws import ws_figures

        figures = asyncio.run(
            ws_figures(settings, args.clients, args.events, args.detections, args.live_s)
        )
    else:
        from bench.stream import stream_figures

        figures = asyncio.run(
            stream_figures(settings, args.messages or 20_000, args.live_s, args.patients_state)
        )
    for key, value in figures.items():
        if key != "rounds_detail":
            print(f"{key:>22}: {value}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    return 0


def _bench_database(settings: Settings) -> tuple[str, str]:
    admin = settings.db.admin_dsn.get_secret_value()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}" OWNER vigil')
        ts = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
            " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        ).fetchone()
    if settings.db.mode == "plain":  # VIGIL_DB__MODE=plain: measure plain PostgreSQL, as CI runs
        ts = None
    if ts is not None:
        with psycopg.connect(make_conninfo(admin, dbname=BENCH_DB), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    dsn = make_conninfo(settings.db.dsn.get_secret_value(), dbname=BENCH_DB)
    migrate(dsn)
    return dsn, "timescaledb" if ts is not None else "plain"


async def _ingest(settings: Settings, count: int, rounds: int) -> dict[str, Any]:
    dsn, mode = _bench_database(settings)
    settings = settings.model_copy(
        update={"db": settings.db.model_copy(update={"dsn": SecretStr(dsn)})}
    )
    patients = cohort(50, 1, prefix="bench")
    await enrol_demo(settings, patients=50, seed=1, prefix="bench", dsn=dsn)
    traffic = bi.traffic(patients, count, datetime.now(UTC) - timedelta(hours=1))
    per_reading_us, _ = bi.decode_us(traffic)
    readings = bi.count_readings(traffic)
    bare, ingest = [], []
    for _ in range(rounds):
        bare.append(readings / await _round_bare(settings, traffic))
        ingest.append(readings / await _round_ingest(settings, dsn, traffic, readings))
    bare_rps, ingest_rps = bi.median(bare), bi.median(ingest)
    return {
        "ingest_rps": round(ingest_rps),
        "bare_subscriber_rps": round(bare_rps),
        "ratio": round(ingest_rps / bare_rps, 3),
        "decode_us": round(per_reading_us, 2),
        "readings_per_message": round(readings / count, 2),
        "messages_per_round": count,
        "rounds": rounds,
        "storage_mode": mode,
        "rounds_detail": {
            "bare_rps": [round(x) for x in bare],
            "ingest_rps": [round(x) for x in ingest],
            "ratio": [round(i / b, 3) for i, b in zip(ingest, bare, strict=True)],  # back to back
        },
    }


async def _round_bare(settings: Settings, traffic: list[tuple[str, int, bytes]]) -> float:
    cid = "bench-bare"
    bi.close_session(settings, cid)
    bi.open_session(settings, cid)
    await bi.publish_all(settings, traffic)
    elapsed = await asyncio.to_thread(bi.bare_drain, settings, cid, len(traffic))
    bi.close_session(settings, cid)
    return elapsed


async def _round_ingest(
    settings: Settings, dsn: str, traffic: list[tuple[str, int, bytes]], readings: int
) -> float:
    cid = "bench-ingest"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("TRUNCATE readings")
    bi.close_session(settings, cid)
    bi.open_session(settings, cid)
    await bi.publish_all(settings, traffic)
    elapsed = await bi.ingest_drain(settings, dsn, cid, readings)
    bi.close_session(settings, cid)
    return elapsed
