"""The operators' metrics the database holds (issue 13), gathered at scrape time and cached.

Open alerts by tier and severity, alerts past a deadline not yet fired (the timers are behind
or stopped), deadlines missed (escalations by deadline, a counter), the tier-1 outbox backlog
and its oldest age, open technical alerts by kind. `StoredFigures.refresh` runs the queries
(reports.metrics_queries) at most once per `max_age_s` however often Prometheus and others
scrape, single-flight; `collect` yields the last answer as families of the registry built by
`ingest.metrics.Metrics` (the family names live here because only this module produces them;
the label names are bounded enums: tier, severity, due, kind).

The API process registers it (`vigil api`, and `vigil run`, which serves the API): in the
distributed deployment every API replica reports the same figures; scrape one, or take `max`.

Must not: label anything with a patient, device or staff id; query on every scrape when a
fresh answer is cached; raise into the scrape when the database is down (the last figures
stay, and `vigil_db_figures_up` says 0).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import AsyncConnectionPool

from ingest.retry import describe
from reports import metrics_queries as q

log = logging.getLogger(__name__)

TIERS = ("1", "2", "3")
SEVERITIES = ("info", "moderate", "high", "critical")


@dataclass(slots=True)
class Snapshot:
    open: q.Counts = field(default_factory=dict)
    overdue: q.Counts = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)  # running totals by tier
    missed_seq: int = 0
    technical: dict[str, int] = field(default_factory=dict)
    outbox: tuple[int, int, float | None] = (0, 0, None)
    up: bool = False
    taken_at: float | None = None  # monotonic


class StoredFigures(Collector):
    def __init__(
        self,
        pool: AsyncConnectionPool,
        clock: Callable[[], datetime],
        *,
        max_age_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool, self._clock, self._max_age_s = pool, clock, max_age_s
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self.snapshot = Snapshot()

    async def refresh(self) -> None:
        async with self._lock:
            taken = self.snapshot.taken_at
            if taken is not None and self._monotonic() - taken < self._max_age_s:
                return
            try:
                await self._query()
            except Exception as exc:  # the scrape still answers, with the last figures
                self.snapshot.up = False
                log.warning("metrics: database figures not refreshed (%s)", describe(exc))
            self.snapshot.taken_at = self._monotonic()

    async def _query(self) -> None:
        s, now = self.snapshot, self._clock()
        async with self._pool.connection() as conn:
            s.open = await q.open_alerts(conn)
            s.overdue = await q.overdue_alerts(conn, now)
            new, s.missed_seq = await q.missed_since(conn, s.missed_seq)
            for tier, n in new.items():
                s.missed[tier] = s.missed.get(tier, 0) + n
            s.technical = await q.technical_alerts(conn)
            s.outbox = await q.outbox(conn, now)
        s.up = True

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield GaugeMetricFamily("vigil_db_figures_up",
                                "1 when the last refresh of the database figures succeeded",
                                value=1.0 if s.up else 0.0)  # fmt: skip
        if s.taken_at is None:
            return
        opened = GaugeMetricFamily("vigil_alerts_open", "unresolved alerts by tier and severity",
                                   labels=["tier", "severity"])  # fmt: skip
        for tier in TIERS:
            for severity in SEVERITIES:
                opened.add_metric([tier, severity], s.open.get((tier, severity), 0))
        yield opened
        overdue = GaugeMetricFamily(
            "vigil_alerts_overdue",
            "unresolved alerts whose deadline has passed and not yet fired (timers behind)",
            labels=["tier", "due"],
        )
        for (tier, due), n in sorted(s.overdue.items()):
            overdue.add_metric([tier, due], n)
        yield overdue
        missed = CounterMetricFamily("vigil_alert_deadlines_missed",
                                     "deadlines that passed (escalations by deadline), by the "
                                     "tier the alert moved to", labels=["tier"])  # fmt: skip
        for tier in TIERS:
            missed.add_metric([tier], s.missed.get(tier, 0))
        yield missed
        technical = GaugeMetricFamily("vigil_technical_alerts_open",
                                      "open technical alerts by kind", labels=["kind"])  # fmt: skip
        for kind, n in sorted(s.technical.items()):
            technical.add_metric([kind], n)
        yield technical
        yield from outbox_families(*s.outbox)


def outbox_families(unsent: int, for_device: int, oldest_s: float | None) -> Iterator[Metric]:
    yield GaugeMetricFamily("vigil_outbox_unsent", "tier-1 patient messages not yet sent",
                            value=unsent)  # fmt: skip
    yield GaugeMetricFamily("vigil_outbox_waiting_for_device",
                            "unsent messages whose patient has no bound device",
                            value=for_device)  # fmt: skip
    yield GaugeMetricFamily("vigil_outbox_oldest_unsent_age_seconds",
                            "age of the oldest unsent tier-1 message (0: none)",
                            value=oldest_s or 0.0)  # fmt: skip
