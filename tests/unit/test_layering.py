"""The architecture the code must keep (DESIGN 2): pure logic imports no I/O library, and
dependencies point one way (simulators -> contract <- ingest -> stream -> alerts -> api)."""

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
    "stream/detections.py", "stream/rules.py", "stream/pipeline.py", "stream/window.py",
    "stream/state.py", "stream/evaluate.py", "stream/operator.py", "stream/forecast.py",
    "stream/news2.py", "stream/overrides.py", "stream/core.py", "stream/offsets.py",
    "alerts/episodes.py", "alerts/escalation.py", "alerts/roster.py", "alerts/actions.py",
    "alerts/messages.py", "alerts/delivery.py",
    "simulators/profiles.py", "simulators/physiology.py", "simulators/scenarios.py",
    "simulators/fleet.py", "simulators/payloads.py", "simulators/glucose.py",
    "simulators/_cgm_sensor.py", "simulators/cohorts.py", "simulators/inbox.py",
]  # fmt: skip
# package -> packages it must never import (the arrows of DESIGN 2, reversed; and the benchmarks,
# which are not shipped, only `vigil bench` in the composition root imports them)
FORBIDDEN = {
    "ingest": {"stream", "alerts", "api", "simulators", "vigil", "bench"},
    "stream": {"alerts", "api", "simulators", "vigil", "bench"},
    "alerts": {"api", "simulators", "vigil", "bench"},
    "api": {"simulators", "vigil", "bench"},
    "simulators": {"stream", "alerts", "api", "vigil", "bench"},
}


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
