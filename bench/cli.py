"""`vigil bench`: the command line of the benchmarks (their flags, and which one runs).

Human-readable lines first; with --json the last line is one JSON object with the figures. The
benchmarks use their own database (`vigil_bench`, re-created each run; TimescaleDB when
installed, plain PostgreSQL with VIGIL_DB__MODE=plain) and the running broker; run them on a
quiet machine with no other ingest attached to the broker. Light to import: each bench's module
is imported when it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from vigil.paths import SERVICES_SCRIPT
from vigil.settings import Settings, load_settings

FAULTS = ("kill", "database", "database-crash", "broker", "backlog", "poison", "takeover", "burst")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "what", choices=["ingest", "stream", "quality", "ws", "ui", "program", "faults", "reports"]
    )
    p.add_argument("--json", action="store_true", help="end with one line of JSON")
    p.add_argument(
        "--messages",
        type=int,
        default=None,
        help="device messages per round (ingest: 60,000, so a round lasts seconds; stream: 20,000)",
    )
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (median reported)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of the whole bench: each figure is their median, with its spread"
                   " (min-max) as <figure>_spread; faults and quality run once")  # fmt: skip
    p.add_argument("--live-s", type=float, default=30.0, help="stream: seconds of live load")
    p.add_argument(
        "--only",
        default="",
        help="stream: comma-separated phases to run (state, embedded-drain, embedded-live,"
        " faust-drain, faust-live, embedded-backlog, faust-backlog; default: all)",
    )
    p.add_argument(
        "--patients-state", type=int, default=100_000, help="stream: patients for state size"
    )
    p.add_argument("--backlog", type=int, default=150_000,
                   help="stream: messages queued while the pipeline is stopped")  # fmt: skip
    p.add_argument("--patients", type=int, default=30, help="quality: patients per cohort")
    p.add_argument("--days", type=float, default=3.0, help="quality: simulated days")
    p.add_argument("--seeds", default="1,2,3", help="quality: cohort seeds, comma-separated")
    p.add_argument("--models", default="", help="quality: CGM error models (default: all)")
    p.add_argument("--no-spo2", action="store_true", help="quality: skip the SpO2 cohort")
    p.add_argument("--sweep", default=None, help="quality: a trade-off curve over this parameter")
    p.add_argument("--values", default="", help="quality --sweep: the values, comma-separated")
    p.add_argument(
        "--program-patients", type=int, default=10_000, help="program: patients to recompute"
    )
    p.add_argument("--clients", type=int, default=100, help="ws: websocket clients of one team")
    p.add_argument("--events", type=int, default=3000, help="ws: alert events in the burst")
    p.add_argument("--detections", type=int, default=300, help="ws: detections for writer rate")
    p.add_argument("--ui-patients", type=int, default=10_000, help="ui: patients enrolled")
    p.add_argument("--open-alerts", type=int, default=2000, help="ui: open alerts")
    p.add_argument("--trials", type=int, default=50, help="ui: requests measured per endpoint")
    p.add_argument("--scenarios", default=",".join(FAULTS),
                   help="faults: the scenarios, comma-separated")  # fmt: skip
    p.add_argument("--rate", type=float, default=100.0, help="faults: device messages/s")
    p.add_argument("--down-s", type=float, default=10.0,
                   help="faults: seconds PostgreSQL or vigil run stays down")  # fmt: skip


def main(argv: Sequence[str], settings: Settings) -> int:
    """`vigil bench ARGV`: parse the bench's own flags, run it."""
    parser = argparse.ArgumentParser(
        prog="vigil bench", description="run a benchmark and print figures"
    )
    add_arguments(parser)
    return run_bench(parser.parse_args(argv), settings)


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.what == "quality":
        return _quality(args, settings)

    if args.what == "ui":
        return _ui(args)
    if args.what == "faults":
        return _faults(args)
    services = ["mosquitto", "postgres"] + (["kafka"] if args.what == "stream" else [])
    if args.what == "reports":  # the reports read the database only
        services = ["postgres"]
    subprocess.run([str(SERVICES_SCRIPT), "up", *services], check=True)
    settings = load_settings()  # now with the endpoints and secrets services.sh wrote
    start = _conditions(settings, args.repeat)

    def once() -> dict[str, Any]:
        if args.what == "ingest":
            from bench.ingest import ingest_figures

            return asyncio.run(ingest_figures(settings, args.messages or 60_000, args.rounds))
        if args.what == "program":
            from bench.program import program_figures

            return asyncio.run(program_figures(settings, args.program_patients,
                                               args.messages or 40_000, args.rounds))  # fmt: skip
        if args.what == "reports":
            from bench.reports import report_figures

            return asyncio.run(report_figures(settings))
        if args.what == "ws":
            from bench.ws import ws_figures

            return asyncio.run(
                ws_figures(settings, args.clients, args.events, args.detections, args.live_s)
            )
        from bench.stream import PHASES, stream_figures

        phases = tuple(p for p in args.only.split(",") if p) or PHASES
        if unknown := set(phases) - set(PHASES):
            raise SystemExit(f"vigil bench stream --only: unknown phases {sorted(unknown)}")
        return asyncio.run(stream_figures(settings, args.messages or 20_000, args.live_s,
                                          args.patients_state, phases, args.backlog))  # fmt: skip

    figures = {**repeated(args.repeat, once), "conditions": start}
    for key, value in figures.items():
        if key != "rounds_detail":
            print(f"{key:>22}: {value}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    return 0


def _conditions(settings: Settings | None, repeats: int) -> dict[str, Any]:
    """The bench's conditions (bench.conditions), printed before it starts."""
    from bench.conditions import announce, conditions

    start = conditions(settings, repeats)
    announce(start)
    return start


def repeated(n: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    from bench.conditions import repeated as repeat

    return repeat(n, run)


def _ui(args: argparse.Namespace) -> int:
    subprocess.run([str(SERVICES_SCRIPT), "up", "mosquitto", "postgres"], check=True)
    from bench.ui import BROWSER_NOTE, ui_figures

    settings = load_settings()
    start = _conditions(settings, args.repeat)
    figures = repeated(args.repeat, lambda: asyncio.run(
        ui_figures(settings, args.ui_patients, args.open_alerts, args.trials)))  # fmt: skip
    figures["conditions"] = start
    for key, value in figures.items():
        print(f"{key:>26}: {value}", file=sys.stderr)
    print(BROWSER_NOTE, file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    return 0


def _faults(args: argparse.Namespace) -> int:
    """One line per scenario on stderr; exit 1 unless every invariant held in every scenario."""
    from bench.fault_load import LoadPlan
    from bench.fault_scenarios import SCENARIOS
    from bench.faults import faults_figures

    names = [n for n in args.scenarios.split(",") if n]
    if not names or any(n not in SCENARIOS for n in names):
        print(f"--scenarios takes some of {list(SCENARIOS)}", file=sys.stderr)
        return 2
    subprocess.run([str(SERVICES_SCRIPT), "up", "mosquitto", "postgres"], check=True)
    plan = LoadPlan(rate=args.rate, messages=args.messages or 2000)
    start = _conditions(load_settings(), 1)  # invariants, not rates: one run

    def report(r: dict[str, object]) -> None:
        print("  ".join(f"{k}={v}" for k, v in r.items()), file=sys.stderr, flush=True)

    figures = asyncio.run(faults_figures(load_settings(), names, plan, args.down_s, report))
    if args.json:
        print(json.dumps({**figures, "conditions": start}))
    return 0 if figures["all_ok"] else 1


def _quality(args: argparse.Namespace, settings: Settings) -> int:
    """Always ends with one line of JSON: the medians and each target's pass/fail (or the
    trade-off curve with --sweep). The detectors are the runners' (`build_core`), from the
    settings."""
    from bench.quality import SWEEPS, QualitySettings, quality_figures, sweep
    from simulators._cgm_errors import ErrorModel
    from vigil.streaming import build_core

    try:
        models = tuple(ErrorModel(m) for m in args.models.split(",") if m) or tuple(ErrorModel)
    except ValueError:
        print(f"--models takes some of {[m.value for m in ErrorModel]}", file=sys.stderr)
        return 2
    q = QualitySettings(patients=args.patients, days=args.days, models=models,
                        seeds=tuple(int(x) for x in args.seeds.split(",") if x),
                        spo2=not args.no_spo2,
                        operator=lambda: build_core(settings).operator)  # fmt: skip
    start = _conditions(None, 1)  # no database; the seeds are its repeats
    if args.sweep is None:
        print(json.dumps({**quality_figures(q), "conditions": start}))
        return 0
    if args.sweep not in SWEEPS or not args.values:
        print(f"--sweep takes one of {sorted(SWEEPS)} and --values", file=sys.stderr)
        return 2
    values = [float(v) for v in args.values.split(",")]
    print(json.dumps({"sweep": args.sweep, "curve": sweep(SWEEPS[args.sweep], values, q)}))
    return 0
