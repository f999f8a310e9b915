"""`vigil test`: the whole suite on real services, exactly as CI runs it.

Starts Mosquitto, PostgreSQL and Kafka through infra/services.sh (installing what is missing),
then runs ruff (lint and format check), mypy (strict) and pytest. Services this command started
are stopped again at the end; services that were already running are left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from vigil.paths import REPO, SERVICES_SCRIPT
from vigil.settings import Settings

SERVICES = ("mosquitto", "postgres", "kafka")


def _running(script: str, env: dict[str, str]) -> set[str]:
    out = subprocess.run([script, "status"], env=env, capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if "running" in line}


def _step(name: str, argv: list[str], env: dict[str, str]) -> bool:
    print(f"\n== {name}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    ok = subprocess.run(argv, env=env, cwd=REPO).returncode == 0
    print(
        f"== {name}: {'ok' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s", flush=True
    )
    return ok


def run_tests(settings: Settings, pytest_args: list[str]) -> int:
    env = {**os.environ, "VIGIL_STATE_DIR": str(settings.state_dir.resolve())}
    script = str(SERVICES_SCRIPT)
    before = _running(script, env)
    subprocess.run([script, "up", *SERVICES], env=env, check=True)
    py = sys.executable
    steps = [
        ("lint", [py, "-m", "ruff", "check", str(REPO)]),
        ("format", [py, "-m", "ruff", "format", "--check", str(REPO)]),
        ("types", [py, "-m", "mypy"]),
        ("tests", [py, "-m", "pytest", *pytest_args]),
    ]
    try:
        failed = [name for name, argv in steps if not _step(name, argv, env)]
    finally:
        if not before.issuperset(SERVICES):
            subprocess.run([script, "down"], env=env, check=False)
    print("\nall checks passed" if not failed else f"\nFAILED: {', '.join(failed)}", flush=True)
    return 1 if failed else 0
