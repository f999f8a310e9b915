"""The stream stage's background tasks: timers, state snapshots, overrides, the health watch.

Adapter module (it talks to PostgreSQL through the pool it is given). The composition root
builds the pieces (pipeline, core, pool, alarm store) and passes plain values (seconds, the
connection string); nothing here reads settings or builds adapters of other stages.

- `ticker`: the operator's timers (idle flush, unconfirmable values, silent devices);
- `restore` and `snapshotter`: the embedded runner's operator state, restored from the last
  snapshot at start and saved periodically and at shutdown (the Faust worker keeps its state in
  a changelogged table instead: stream/faust_app.py);
- `watch_overrides`: per-patient threshold overrides reloaded on change (NOTIFY);
- `health_monitor`: the pipeline watching itself (DESIGN 9.3), its alarms logged and stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import psycopg
from psycopg_pool import AsyncConnectionPool

from ingest.ports import TechnicalAlert
from ingest.repository import PgTechnicalAlarms, watch
from ingest.retry import describe
from stream.core import StreamCore
from stream.health import Alarm, Observation, PipelineHealth
from stream.pipeline import StreamPipeline
from stream.repository import OVERRIDES_CHANNEL, load_overrides, load_states, save_states

log = logging.getLogger(__name__)


async def ticker(pipeline: StreamPipeline, lock: asyncio.Lock, tick_s: float) -> None:
    """The operator's timers: idle flush, unconfirmable values, silent devices."""
    while True:
        await asyncio.sleep(tick_s)
        async with lock:
            await pipeline.tick(time.time())


async def restore(pool: AsyncConnectionPool, core: StreamCore) -> int:
    """Put the last snapshot's operator states into the core; return how many."""
    config = core.operator.config
    states = await load_states(pool, config.ewma_alpha, config.dedupe_memory)
    for state in states:
        core.store.put(state)
    return len(states)


async def snapshotter(
    pool: AsyncConnectionPool,
    core: StreamCore,
    lock: asyncio.Lock,
    every_s: float,
    retriable: tuple[type[BaseException], ...],
) -> None:
    """Save changed operator states every `every_s`, and once more when cancelled (shutdown).

    A retriable database error (an outage, a failover) costs one round, not the process: the
    states are taken back as changed and saved next time. Anything else stops the runner."""
    try:
        while True:
            await asyncio.sleep(every_s)
            async with lock:
                changed = core.take_changed()
            try:
                await save_states(pool, changed)
            except retriable as exc:
                log.warning("operator snapshot of %d patients failed (%s); next try in %g s",
                            len(changed), describe(exc), every_s)  # fmt: skip
                core.mark_changed(changed)
    finally:
        await final_snapshot(pool, core)


async def final_snapshot(pool: AsyncConnectionPool, core: StreamCore) -> None:
    """Save every operator state at shutdown; a failure is logged at ERROR, not raised.

    Not raised, deliberately: the operator state can be rebuilt well enough. Every reading and
    detection is already in PostgreSQL (written before it was acknowledged); the next start
    restores the last periodic snapshot (at most `every_s` old), and what the operator learnt
    since (trend windows, persistence counts) refills from the next readings. Raising would not
    stop anything either: this runs while the process is stopping (the task was cancelled), and
    an exception here would replace the one that explains why it stopped.
    """
    try:
        saved = await save_states(pool, core.store.all())
    except Exception as exc:  # logged at ERROR (see the docstring), never swallowed
        # The class and SQLSTATE only: database messages can quote row values (PHI).
        log.error("final snapshot of the operator state failed (%s); the next start restores "
                  "the last periodic snapshot", describe(exc))  # fmt: skip
    else:
        log.info("operator state of %d patients saved", saved)


async def watch_overrides(
    pool: AsyncConnectionPool, conninfo: str, core: StreamCore, refresh_s: float
) -> None:
    """Swap in fresh per-patient overrides on every change notification and every `refresh_s`."""

    async def reload() -> None:
        core.operator.overrides = await load_overrides(pool, core.operator.rules)

    await watch(conninfo, OVERRIDES_CHANNEL, reload, refresh_s)


async def health_monitor(
    pipeline: StreamPipeline,
    health: PipelineHealth,
    alarms: PgTechnicalAlarms,
    lag: Callable[[], Awaitable[int]],
    subject: str,
    every_s: float = 5.0,
) -> None:
    """Watch the pipeline (no data, lag, refused writes) and report changes. An alarm that cannot
    be stored (the database may be the problem) is logged at once and stored when it can be, in
    order and with the time it changed (a raise and its clear may well be stored together)."""
    unsaved: list[tuple[Alarm, datetime]] = []
    while True:
        await asyncio.sleep(every_s)
        s = pipeline.stats
        now = time.monotonic()
        failing = 0.0 if s.failing_since is None else now - s.failing_since
        changes = health.observe(Observation(now, now - s.last_batch_at, await lag(), failing))
        for alarm in changes:
            level = logging.CRITICAL if alarm.raised else logging.INFO
            state = "raised" if alarm.raised else "cleared"
            log.log(level, "pipeline alarm %s %s: %s", alarm.kind, state, alarm.detail)
        at = datetime.now(UTC)
        unsaved += [(alarm, at) for alarm in changes]
        unsaved = await store_alarms(alarms, unsaved, subject, every_s)


async def store_alarms(
    alarms: PgTechnicalAlarms, pending: list[tuple[Alarm, datetime]], subject: str, every_s: float
) -> list[tuple[Alarm, datetime]]:
    """Store the pending alarm changes in order, each with the time it changed; return those
    the database did not take."""
    for i, (alarm, at) in enumerate(pending):
        try:
            if alarm.raised:
                await alarms.raise_alarm(TechnicalAlert(alarm.kind, subject, alarm.detail, at))
            else:
                await alarms.clear_alarm(alarm.kind, subject, at)
        except (psycopg.Error, OSError) as exc:
            log.warning("pipeline alarm %s not stored yet (%s); retrying in %g s",
                        alarm.kind, describe(exc), every_s)  # fmt: skip
            return pending[i:]  # keep them, in order, for the next round
    return []
