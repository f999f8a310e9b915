"""Where things are in the source checkout: the repository root and the files the commands use.

Constants only, computed from this file's location; no I/O and no imports of other Vigil
modules, so every module (the CLI, demo, tests runner, migrations, benches) can import it
without importing each other.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = REPO / "infra" / "services.sh"  # starts and stops the private services
MIGRATIONS_DIR = REPO / "infra" / "migrations"
BENCH_DIR = REPO / "bench"  # the benchmarks: in a source checkout only, not shipped
