"""Arguments of `vigil simulate` and the run they describe (no settings are read here)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from simulators.device import DeviceStats
from simulators.fleet import cohort
from simulators.runner import RunConfig, Simulation
from simulators.scenarios import SCENARIOS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--patients", type=int, default=50, help="simulated patients (default 50)")
    p.add_argument("--seed", type=int, default=1, help="cohort and noise seed (default 1)")
    p.add_argument("--prefix", default="sim", help="id prefix of patients and devices")
    p.add_argument("--accel", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--duration", type=float, help="stop after this many real seconds")
    p.add_argument("--max-readings", type=int, help="stop after this many device messages")
    p.add_argument("--rate", type=float, help="load mode: messages/s overall, ignoring cadences")
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        choices=sorted(SCENARIOS),
        help="inject a clinical episode (crisis: hypertensive crisis of patient 0)",
    )
    p.add_argument(
        "--max-inflight", type=int, default=20, help="unacknowledged publishes per device"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress line")  # fmt: skip
    p.add_argument(
        "--adherence",
        action="store_true",
        help="measurements by hand follow each patient's persona (some drift, some stop)",
    )
    p.add_argument(
        "--history-days", type=float, default=0.0, help="first send this many days of backlog"
    )


def simulate(
    args: argparse.Namespace, *, host: str, port: int, secret: str, seq_file: Path
) -> DeviceStats:
    config = RunConfig(
        host=host,
        port=port,
        secret=secret,
        seed=args.seed,
        accel=args.accel,
        duration_s=args.duration,
        max_readings=args.max_readings,
        rate=args.rate,
        max_inflight=args.max_inflight,
        episodes=tuple(SCENARIOS[name]() for name in args.scenario),
        seq_file=seq_file,
        progress=not args.no_progress,
        adherence=args.adherence,
        history_days=args.history_days,
    )
    patients = cohort(args.patients, args.seed, prefix=args.prefix)
    return asyncio.run(Simulation(patients, config).run())
