"""Per-stage latencies of the Faust worker (stream/stage_times.py)."""

from __future__ import annotations

from stream.stage_times import StageTimes


def test_each_stage_is_the_difference_of_consecutive_times() -> None:
    stages = StageTimes()
    # measured, MQTT receipt, Kafka timestamp, consumer receipt; batch start 100.5, commit 100.6
    stages.record([(100.0, 100.01, 100.03, 100.4)], 100.5, 100.6)
    summary = stages.summary()
    expected = {"measured_to_ingest": 10.0, "ingest_to_kafka": 20.0, "kafka_to_faust": 370.0,
                "faust_to_batch": 100.0, "batch_to_commit": 100.0}  # fmt: skip
    assert {k: v["p50_ms"] for k, v in summary.items()} == expected
    assert all(v["n"] == 1 for v in summary.values())


def test_percentiles_are_of_the_recent_records_only() -> None:
    stages = StageTimes(keep=100)
    stages.record([(0.0, 5.0, 5.0, None)], 5.0, 5.0)  # an old, slow record: forgotten
    stages.record([(0.0, i / 1000, i / 1000, None) for i in range(100)], 1.0, 1.0)
    ingest = stages.summary()["measured_to_ingest"]
    assert (ingest["p50_ms"], ingest["p99_ms"], ingest["max_ms"]) == (50.0, 98.0, 99.0)


def test_without_a_consumer_receipt_the_fetch_stages_have_no_sample() -> None:
    stages = StageTimes()
    stages.record([(0.0, 0.0, 0.0, None)], 0.0, 0.0)
    assert "kafka_to_faust" not in stages.summary() and "faust_to_batch" not in stages.summary()
    assert stages.recorded == 1
