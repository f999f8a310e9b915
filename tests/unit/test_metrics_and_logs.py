"""Operators' metrics and JSON logs without services (issue 13): the exposition parses with
Prometheus' own parser and reads the services' own counters; the stream's lag and newest times;
JSON lines carry the fixed fields and safe extras only; the ingest's rejection path, logged as
JSON, names no device."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ingest.bound import BoundMessage
from ingest.contract import readings_topic
from ingest.logs import JsonFormatter, loggable, ref, refs
from ingest.metrics import Metrics
from ingest.ports import RawMessage, RejectedRecord, TechnicalAlert
from ingest.service import IngestService, IngestStats
from simulators import payloads
from stream.pipeline import PipelineStats

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def parsed(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_exposition_reads_the_services_own_counters() -> None:
    ingest, stream = IngestStats(), PipelineStats()
    metrics = Metrics(clock=lambda: 1_000.0)
    metrics.watch_ingest(ingest)
    metrics.watch_stream(lambda: stream)
    metrics.watch_gauge("vigil_websocket_clients", "clients", lambda: 3)
    metrics.watch_pool("main", lambda: {"pool_size": 4, "pool_max": 8, "requests_wait_ms": 1500})
    metrics.watch_alarms(
        lambda: {"pipeline_lagging": "…"}, ("pipeline_no_data", "pipeline_lagging")
    )
    ingest.readings_accepted, stream.readings_new = 17, 15
    ingest.rejected.update({"malformed": 2, "implausible": 1})
    ingest.rejected_bytes = 321
    found = parsed(metrics)
    assert found["vigil_ingest_readings_accepted_total", ()] == 17
    assert found["vigil_ingest_rejected_total", (("reason", "malformed"),)] == 2
    assert found["vigil_ingest_rejected_total", (("reason", "implausible"),)] == 1
    assert found["vigil_ingest_rejected_bytes_total", ()] == 321
    assert found["vigil_stream_readings_stored_total", ()] == 15
    assert found["vigil_websocket_clients", ()] == 3
    assert found["vigil_db_pool_size", (("pool", "main"),)] == 4
    assert found["vigil_db_pool_requests_wait_seconds_total", (("pool", "main"),)] == 1.5
    assert found["vigil_pipeline_alarm_active", (("kind", "pipeline_lagging"),)] == 1
    assert found["vigil_pipeline_alarm_active", (("kind", "pipeline_no_data"),)] == 0
    ingest.rejected["malformed"] += 1  # read at scrape: the hot path never touched a metric
    assert parsed(metrics)["vigil_ingest_rejected_total", (("reason", "malformed"),)] == 3


@dataclass
class AlertWriter:  # what alerts.repository.PgAlertStore counts
    refused: int = 0
    fallbacks: int = 0


def test_the_alert_writers_refusals_are_counted() -> None:
    writer = AlertWriter()
    metrics = Metrics()
    metrics.watch_alert_writer(writer)
    assert parsed(metrics)["vigil_alerts_detections_unrecorded_total", ()] == 0
    writer.refused, writer.fallbacks = 2, 1
    found = parsed(metrics)
    assert found["vigil_alerts_detections_unrecorded_total", ()] == 2
    assert found["vigil_alerts_batch_fallbacks_total", ()] == 1


def test_a_worker_without_its_pipeline_yet_exposes_no_stream_counters() -> None:
    metrics = Metrics()
    metrics.watch_stream(lambda: None)
    assert not any(name.startswith("vigil_stream_readings") for name, _ in parsed(metrics))


def test_batches_give_sizes_durations_newest_times_and_the_lag() -> None:
    now = [1_000.0]
    metrics = Metrics(clock=lambda: now[0])
    assert ("vigil_stream_lag_seconds", ()) not in parsed(metrics)  # no batch yet: no lag
    metrics.batches.batch(40, 0.02, received_s=990.0, measured_s=980.0)
    metrics.batches.batch(10, 0.5, received_s=985.0, measured_s=970.0)  # older: not the newest
    now[0] = 1_030.0
    found = parsed(metrics)
    assert found["vigil_stream_batch_messages_count", ()] == 2
    assert found["vigil_stream_batch_messages_sum", ()] == 50
    assert found["vigil_stream_batch_seconds_bucket", (("le", "0.025"),)] == 1
    assert found["vigil_stream_newest_received_timestamp_seconds", ()] == 990.0
    assert found["vigil_stream_newest_measured_timestamp_seconds", ()] == 980.0
    assert found["vigil_stream_lag_seconds", ()] == 40.0


# --- logs -------------------------------------------------------------------------------------


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def test_json_lines_carry_the_fixed_fields_and_safe_extras_only(captured: io.StringIO) -> None:
    log = logging.getLogger("vigil.test")
    log.warning("batch of %d", 3, extra={"reason": "malformed", "patient_id": "p-1", "count": 2})
    try:
        raise ValueError("value 190 for p-1")  # an error's text can quote PHI
    except ValueError:
        log.exception("failed")
    first, second = json_lines(captured)
    assert set(first) == {"ts", "level", "logger", "message", "reason", "count"}
    assert (first["level"], first["logger"], first["message"]) == (
        "WARNING",
        "vigil.test",
        "batch of 3",
    )
    assert datetime.fromisoformat(str(first["ts"])).tzinfo is not None
    assert second["exc_type"] == "ValueError" and "p-1" not in json.dumps(second)


def test_pseudonyms_hide_ids_but_stay_the_same_within_a_process() -> None:
    assert ref("bp-0007") == ref("bp-0007") != ref("bp-0008")
    assert "0007" not in ref("bp-0007")
    assert loggable("device_bad_data", "bp-0007") == ref("bp-0007")
    assert loggable("detection_unrecorded", "p-1") == ref("p-1")  # a patient id
    assert loggable("outbox_stuck", "outbox") == "outbox"
    assert refs([f"d{i}" for i in range(7)]).endswith("…")


class Handoff:
    def __init__(self) -> None:
        self.messages: list[BoundMessage] = []

    async def hand_off(self, messages: Sequence[BoundMessage]) -> None:
        self.messages.extend(messages)


class Rejections:
    def __init__(self) -> None:
        self.records: list[RejectedRecord] = []

    async def store(self, records: Sequence[RejectedRecord]) -> None:
        self.records.extend(records)


class Alarms:
    def __init__(self) -> None:
        self.raised: list[TechnicalAlert] = []

    async def raise_alarm(self, alert: TechnicalAlert) -> None:
        self.raised.append(alert)


@pytest.mark.asyncio
async def test_the_rejection_path_logs_json_without_the_device_id(captured: io.StringIO) -> None:
    device = "bp-secret-0042"
    rejections = Rejections()
    service = IngestService(Handoff(), rejections, Alarms())
    reading = payloads.reading("systolic_bp", 400.0, "mm[Hg]")
    implausible = json.dumps(payloads.message(device, 7, NOW - timedelta(minutes=1), [reading]))
    raw = [RawMessage(readings_topic(device), b"{not json", NOW),
           RawMessage(readings_topic(device), implausible.encode(), NOW)]  # fmt: skip
    await service.handle(raw)
    assert {r.rejection.reason.value for r in rejections.records} == {"malformed", "implausible"}
    lines = [r for r in json_lines(captured) if r["logger"] == "ingest.service"]
    assert lines and all(r["level"] == "WARNING" for r in lines)
    assert device not in captured.getvalue()
    assert ref(device) in captured.getvalue()  # the same device is recognisable in the log
