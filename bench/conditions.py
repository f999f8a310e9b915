"""What a bench figure was measured under, and the same figure measured several times.

A figure means little without its conditions (issue 15): `conditions` says which storage the
bench database gets (TimescaleDB or plain PostgreSQL, decided as `bench.database` decides it),
the machine's core count and its 1/5/15-minute load average, the size of the broker's store
(with a warning when offline sessions' queues make it large); every bench prints them at start
and adds them to its JSON. `repeated` runs a bench `n` times and reports, for each top-level
numeric figure, the median of the runs under its usual key (what the README's tables and other
code read) and `<key>_spread`: [min, max]. Other values (nested details, strings) are the last
run's. Must not: measure anything itself, or touch any database but to ask what the bench
database will be.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable
from typing import Any

import psycopg

from vigil.settings import Settings

STALE_STORE_MB = 20.0  # well above what the benches' own closed sessions leave (~1 MB)
TIMESCALEDB_INSTALLED = (
    "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
)


def storage_mode(settings: Settings) -> str:
    """What the bench database is created with: "timescaledb" when the server has it loaded
    (unless VIGIL_DB__MODE=plain), else "plain" (PostgreSQL)."""
    if settings.db.mode == "plain":
        return "plain"
    with psycopg.connect(settings.db.admin_dsn.get_secret_value(), autocommit=True) as conn:
        installed = conn.execute(TIMESCALEDB_INSTALLED).fetchone() is not None
    return "timescaledb" if installed else "plain"


def broker_store_mb(settings: Settings) -> float | None:
    """The size of the broker's persistence file (None: no private broker has written one).
    It holds every session's queue, and the broker rewrites it whole every 2 s
    (infra/mosquitto/mosquitto.conf.in): an offline session that nobody will resume (a stopped
    `vigil up`'s ingest, an old client id) queues every reading the benches publish, up to
    300,000 messages, and each rewrite then stalls the broker (208 MB: 0.7 s every 2.7 s)."""
    try:
        size = (settings.state_dir / "mosquitto" / "data" / "mosquitto.db").stat().st_size
    except OSError:
        return None
    return round(size / 1e6, 1)


def conditions(settings: Settings | None, repeats: int) -> dict[str, Any]:
    """The conditions of a bench run (storage mode None when the bench has no database)."""
    one, five, fifteen = os.getloadavg()
    return {
        "storage_mode": storage_mode(settings) if settings is not None else None,
        "cores": os.cpu_count(),
        "load_avg": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "broker_store_mb": broker_store_mb(settings) if settings is not None else None,
        "repeats": repeats,
    }


def announce(c: dict[str, Any]) -> None:
    """The conditions, on stderr, before the bench starts."""
    storage = {"timescaledb": "TimescaleDB", "plain": "plain PostgreSQL", None: "none"}
    one, five, fifteen = c["load_avg"]
    print(f"conditions: storage {storage[c['storage_mode']]}, {c['cores']} cores, load average"
          f" {one} / {five} / {fifteen} (1/5/15 min), each figure the median of"
          f" {c['repeats']} run(s)", file=sys.stderr, flush=True)  # fmt: skip
    store = c.get("broker_store_mb")
    if store is not None and store > STALE_STORE_MB:
        print(f"conditions: WARNING: the broker's store holds {store} MB (offline sessions'"
              " queues); it rewrites them every 2 s and stalls meanwhile, so latency figures"
              " will be worse than on a fresh machine. Discard sessions nobody will resume:"
              " bin/vigil services drop-session CLIENT_ID",
              file=sys.stderr, flush=True)  # fmt: skip


def repeated(n: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run` `n` times (at least once); the figures' medians with their spreads (see module)."""
    runs = []
    for i in range(max(n, 1)):
        runs.append(run())
        if n > 1:
            print(f"run {i + 1}/{n} done", file=sys.stderr, flush=True)
    return summarize(runs)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(runs[-1])
    for key in runs[-1]:
        values = [r[key] for r in runs if key in r]
        if len(values) < len(runs) or not all(_numeric(v) for v in values):
            continue
        median = statistics.median(values)
        out[key] = round(median) if all(isinstance(v, int) for v in values) else median
        out[f"{key}_spread"] = [min(values), max(values)]
    return out


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
