"""Operators' metrics and JSON logs (issue 13), on the real services.

- The real `vigil run` process with `VIGIL_LOG_FORMAT=json`: readings published over MQTT move
  the ingest's and the stream's counters at `/metrics` (parsed with Prometheus' own text
  parser), a malformed and an implausible payload move `vigil_ingest_rejected_total` by reason,
  no label value is a patient or device id of the test, and every line the process logged is
  a JSON object without those ids.
- Who may scrape: loopback without a token; with a token, its bearer only; others get the
  ordinary 404. The answer carries the API's security headers.
- The database figures equal what the tables hold.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.app import create_app
from api.feed import AlertFeed
from ingest.contract import readings_topic
from ingest.metrics import Metrics
from tests.integration.conftest import eventually
from tests.integration.devices import bp_device, bp_payload, connect, enrol
from tests.integration.rest_world import seed, utc_now
from tests.integration.stack import running_stack
from vigil.observability import api_metrics, watch_pool
from vigil.runtime import open_pool
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and sorted labels (the parser raises on bad text)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def label_values(found: Samples) -> set[str]:
    return {v for _, labels in found for _, v in labels}


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
        assert answer.headers["content-type"].startswith("text/plain")
        return str(answer.read().decode())


def distinct_ports(n: int) -> list[int]:
    """`n` free loopback ports, all different (each held until all are picked)."""
    held = [socket.socket() for _ in range(n)]
    try:
        for s in held:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()


def identifiers(patients: Iterable[Any]) -> set[str]:
    return {p.patient_id for p in patients} | {d.device_id for p in patients for d in p.devices}


@pytest.mark.timeout(120)
async def test_metrics_move_as_readings_flow_and_logs_are_json_without_ids(
    settings: Settings, dsn: str, aconn: psycopg.AsyncConnection[Any], tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    device = bp_device(patients, 0)
    ids = identifiers(patients)
    async with running_stack(
        settings,
        dsn,
        tag,
        "embedded",
        tmp_path,
        VIGIL_LOG_FORMAT="json",
        VIGIL_INGEST__BAD_DEVICE_THRESHOLD="2",  # the two refusals raise device_bad_data
    ) as stack:
        before = samples(await asyncio.to_thread(scrape, stack.api_url))
        assert value(before, "vigil_db_figures_up") == 1.0
        conn = await connect(settings, device)
        for seq in range(1, 6):
            await conn.publish_raw(readings_topic(device), bp_payload(device, seq, 125.0))
        await conn.publish_raw(readings_topic(device), b"{not json")
        await conn.publish_raw(readings_topic(device), bp_payload(device, 6, 400.0))

        async def counted() -> Samples | None:
            after = samples(await asyncio.to_thread(scrape, stack.api_url))
            done = value(after, "vigil_ingest_rejected_total", reason="implausible") >= 1
            return (
                after if done and value(after, "vigil_stream_readings_stored_total") >= 17 else None
            )

        after = await eventually(counted)
        assert after, stack.tail()
        stored = await (await aconn.execute("SELECT count(*) FROM readings WHERE device_id = %s",
                                            (device,))).fetchone()  # fmt: skip
        assert stored is not None and stored[0] == 5 * 3 + 2  # SBP 400 refused, its DBP and HR kept

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("vigil_ingest_messages_total") == 7
    assert moved("vigil_ingest_readings_accepted_total") == 17
    assert moved("vigil_ingest_rejected_total", reason="malformed") == 1
    assert moved("vigil_ingest_rejected_total", reason="implausible") == 1
    assert moved("vigil_ingest_rejected_bytes_total") >= len(b"{not json")
    assert moved("vigil_stream_readings_stored_total") == 17
    assert moved("vigil_stream_batch_messages_count") >= 1
    assert moved("vigil_ingest_store_messages_sum") == 7  # every message, rejected ones too
    assert moved("vigil_ingest_store_seconds_count") == moved("vigil_ingest_store_messages_count")
    assert moved("vigil_stream_batch_messages_sum") == 6  # the valid messages, in batches
    assert value(after, "vigil_stream_newest_received_timestamp_seconds") > 1.7e9
    for family in ("vigil_db_pool_size", "vigil_websocket_clients", "vigil_outbox_unsent",
                   "vigil_stream_backlog_messages",
                   "vigil_alerts_detections_unrecorded_total"):  # fmt: skip
        assert any(name == family for name, _ in after), family
    assert value(after, "vigil_pipeline_alarm_active", kind="pipeline_no_data") == 0.0
    assert not label_values(after) & ids
    assert not any(tag in v for v in label_values(after))

    lines = [line for line in stack.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line one JSON object
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    rejections = [r for r in records if r["message"].startswith("rejected ")]
    assert rejections and all(r["level"] == "WARNING" for r in rejections)
    technical = [r for r in records if "technical alert device_bad_data" in r["message"]]
    assert technical and all("ref:" in r["message"] for r in technical)  # the device's pseudonym
    assert not any(i in line for line in lines for i in ids), "an id reached the log"


async def test_who_may_scrape_and_the_database_figures(
    settings: Settings, dsn: str, tag: str
) -> None:
    world = await seed(dsn, tag)
    mine = settings.model_copy(
        update={"db": settings.db.model_copy(update={"dsn": SecretStr(dsn)})}
    )
    async with open_pool(mine) as pool:
        feed = AlertFeed(pool, dsn)
        metrics = Metrics()
        watch_pool(metrics, "main", pool)
        api_metrics(metrics, mine, pool, feed, utc_now)

        def client(token: str | None, host: str) -> httpx.AsyncClient:
            app = create_app(pool=pool, feed=feed, clock=utc_now, allowed_origins=[],
                             storage_mode="plain", metrics=metrics, metrics_token=token)  # fmt: skip
            transport = httpx.ASGITransport(app=app, client=(host, 40_000))
            return httpx.AsyncClient(transport=transport, base_url="http://vigil.test")

        async with client(None, "127.0.0.1") as c:
            answer = await c.get("/metrics")
            assert answer.status_code == 200
            assert answer.headers["cache-control"] == "no-store"
            assert answer.headers["x-content-type-options"] == "nosniff"
            found = samples(answer.text)
            assert "/metrics" not in (await c.get("/openapi.json")).json()["paths"]
        async with client(None, "203.0.113.9") as c:
            stranger = await c.get("/metrics")
            unknown = await c.get("/no/such/page")
            assert stranger.status_code == 404 and stranger.json() == unknown.json()
        async with client("s3cret-metrics", "203.0.113.9") as c:
            assert (await c.get("/metrics")).status_code == 404
            assert (await c.get("/metrics", headers=world.bearer(0, "admin"))).status_code == 404
            good = {"Authorization": "Bearer s3cret-metrics"}
            assert (await c.get("/metrics", headers=good)).status_code == 200

    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute("SELECT tier::text, severity, count(*) FROM alerts"
                                 " WHERE status <> 'resolved' GROUP BY 1, 2")  # fmt: skip
        expected = {(t, s): n for t, s, n in await cur.fetchall()}
    assert expected, "seed opens alerts"
    for (tier, severity), n in expected.items():
        assert value(found, "vigil_alerts_open", tier=tier, severity=severity) == n
    opened = sum(v for (name, _), v in found.items() if name == "vigil_alerts_open")
    assert opened == sum(expected.values())
    assert value(found, "vigil_db_pool_max", pool="main") == mine.db.pool_max
    ids = {p for t in world.teams for p in t.patients} | {t.device for t in world.teams}
    assert not label_values(found) & ids


@pytest.mark.kafka
@pytest.mark.timeout(180)
async def test_the_kafka_deployment_s_ingest_and_worker_serve_their_own_metrics(
    settings: Settings, dsn: str, tag: str, tmp_path: Path
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = bp_device(patients, 0)
    ports = dict(zip(("ingest", "worker"), distinct_ports(2), strict=True))
    per_process = {name: {"VIGIL_METRICS__PORT": str(port)} for name, port in ports.items()}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    async with running_stack(
        settings, dsn, tag, "kafka", tmp_path, per_process, VIGIL_LOG_FORMAT="json"
    ) as stack:
        conn = await connect(settings, device)
        for seq in range(1, 4):
            await conn.publish_raw(readings_topic(device), bp_payload(device, seq, 125.0))

        async def through() -> tuple[Samples, Samples] | None:
            try:
                ingest, worker = [samples(await asyncio.to_thread(scrape, url[n])) for n in ports]
            except OSError:  # the worker's exporter starts once it has joined
                return None
            done = value(worker, "vigil_stream_readings_stored_total") == 9
            done = done and ("vigil_stream_backlog_messages", ()) in worker  # probed every 5 s
            return (ingest, worker) if done else None

        found = await eventually(through, timeout_s=60)
        assert found, stack.tail()
    ingest, worker = found
    assert value(ingest, "vigil_ingest_readings_accepted_total") == 9
    assert ("vigil_stream_readings_stored_total", ()) not in ingest  # the worker stores
    assert value(worker, "vigil_stream_batch_messages_sum") == 3
    assert ("vigil_stream_backlog_messages", ()) in worker  # the Kafka consumer lag
    assert value(worker, "vigil_db_pool_max", pool="main") > 0
    ids = identifiers(patients)
    assert not (label_values(ingest) | label_values(worker)) & ids
    lines = [line for line in stack.log.read_text().splitlines() if line.strip()]
    loggers = {json.loads(line)["logger"] for line in lines}  # Faust's lines are JSON too
    assert any(name.startswith(("faust", "mode", "aiokafka")) for name in loggers), loggers
