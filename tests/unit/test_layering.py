"""The architecture the code must keep (DESIGN 2, 12): pure logic imports no I/O library, and
dependencies point one way:

    simulators -> contract <- ingest -> stream -> alerts -> program -> reports -> api -> vigil
                                                      alerts -> replay -> vigil

`program` (the care program) and `reports` (summaries, KPIs, FHIR) sit between the alerts and the
API; `api/web` (the workspace's pages) calls the domains and has no SQL of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

IO_LIBRARIES = {"paho", "psycopg", "psycopg_pool", "faust", "mode", "aiokafka", "fastapi",
                "starlette", "uvicorn", "websockets", "socket", "subprocess"}  # fmt: skip
PURE = [
    "ingest/contract/__init__.py", "ingest/contract/decoder.py", "ingest/contract/_senml.py",
    "ingest/contract/records.py", "ingest/contract/topics.py", "ingest/contract/units.py",
    "ingest/bindings.py", "ingest/sequence.py", "ingest/monitor.py", "ingest/acks.py",
    "ingest/service.py", "ingest/ports.py", "ingest/bound.py",
    "stream/detections.py", "stream/rules.py", "stream/rule_specs.py", "stream/rule_thresholds.py",
    "stream/rule_patterns.py", "stream/rule_sources.py", "stream/pipeline.py", "stream/window.py",
    "stream/state.py", "stream/evaluate.py", "stream/operator.py", "stream/kalman.py",
    "stream/news2.py", "stream/overrides.py", "stream/core.py", "stream/offsets.py", "stream/health.py",
    "alerts/episodes.py", "alerts/escalation.py", "alerts/lifecycle.py", "alerts/roster.py", "alerts/actions.py",
    "alerts/messages.py", "alerts/glucose_units.py", "alerts/delivery.py", "alerts/_alert_row.py",
    "alerts/_codec.py",
    "simulators/profiles.py", "simulators/physiology.py", "simulators/scenarios.py",
    "simulators/fleet.py", "simulators/payloads.py", "simulators/glucose.py",
    "simulators/_cgm_sensor.py", "simulators/quality_cohorts.py", "simulators/_cgm_errors.py",
    "simulators/inbox.py", "replay/records.py", "replay/engine.py",
    "simulators/_glucose_profile.py", "simulators/_glucose_plan.py", "simulators/_glucose_body.py",
    "program/plans.py", "program/slots.py", "program/records.py", "program/adherence.py",
    "program/reminders.py", "program/stopped.py", "program/advice.py", "program/risk.py",
    "program/tasks.py", "simulators/adherence.py",
    "reports/fhir.py", "reports/fhir_codes.py", "reports/fhir_inbound.py",
    "reports/agp.py", "reports/bp.py", "reports/vitals.py", "reports/summary.py",
    "reports/stats.py", "reports/_clock.py", "reports/_format.py", "reports/i18n.py",
    "reports/charts.py", "reports/render.py",
]  # fmt: skip
# package -> packages it must never import (the arrows of DESIGN 2 and 12, reversed; and the
# benchmarks, which are not shipped: only `vigil bench` in the composition root imports them)
LATER = {"program", "reports", "bench"}  # the rooms downstream of the alerts, and the benchmarks
FORBIDDEN = {
    "ingest": {"stream", "alerts", "api", "simulators", "vigil"} | LATER,
    "stream": {"alerts", "api", "simulators", "vigil", "replay"} | LATER,
    "alerts": {"api", "simulators", "vigil", "replay"} | LATER,
    # the replay runs the stream and the alerts together, as the runners do
    "replay": {"api", "simulators", "vigil"} | LATER,
    "program": {"reports", "api", "simulators", "vigil", "bench"},
    "reports": {"api", "simulators", "vigil", "bench"},
    "api": {"simulators", "vigil", "bench"},
    "simulators": {"stream", "alerts", "api", "vigil", "replay"} | LATER,
}
# The workspace's pages call the domains and the API's query modules; SQL stays out of them.
DATABASE_LIBRARIES = {"psycopg", "psycopg_pool", "sqlalchemy", "asyncpg"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_io_library(module: str) -> None:
    assert imported_roots(REPO / module) & IO_LIBRARIES == set()


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str) -> None:
    for path in sorted((REPO / package).rglob("*.py")):
        bad = imported_roots(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_the_workspace_pages_hold_no_sql_of_their_own() -> None:
    pages = sorted((REPO / "api" / "web").rglob("*.py"))
    assert pages, "api/web is the workspace's room"
    for path in pages:
        bad = imported_roots(path) & DATABASE_LIBRARIES
        assert not bad, f"{path.relative_to(REPO)} imports {bad}: call a repository instead"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_every_room_exists_and_states_its_surface(package: str) -> None:
    init = REPO / package / "__init__.py"
    assert init.is_file(), f"{package}/ has no __init__.py"
    assert ast.get_docstring(ast.parse(init.read_text())), f"{package}/__init__.py has no docstring"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_alerts_know_the_stream_only_by_its_detections() -> None:
    """Alerts learn what they need (severity, whether a value is dangerous on its own) from the
    detection, never from the stream's rule table or operator."""
    for path in sorted((REPO / "alerts").rglob("*.py")):
        stream = {m for m in imported_modules(path) if m.split(".")[0] == "stream"}
        assert stream <= {"stream.detections"}, f"{path.relative_to(REPO)} imports {stream}"


CLOCK_MODULES = {"time"}
CLOCK_CALLS = {"now", "utcnow", "today", "get_running_loop", "get_event_loop"}  # + loop.time()


def clock_reads(path: Path) -> list[str]:
    """Where a module reads a clock: imports `time`, or calls `.now(`, `.utcnow(`, `.today(`
    (datetime, date) or gets the event loop (whose `.time()` is a clock)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name in CLOCK_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module in CLOCK_MODULES:
            found.append(f"from {node.module} import ...")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in CLOCK_CALLS):  # fmt: skip
            found.append(f"line {node.lineno}: .{node.func.attr}(")
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_read_no_clock(module: str) -> None:
    """Domain functions take `now` as an argument (DESIGN 2); the adapters read the clocks."""
    assert clock_reads(REPO / module) == []
