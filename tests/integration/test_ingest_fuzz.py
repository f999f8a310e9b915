"""Fuzz: whatever devices send, the ingest survives and loses nothing valid (issue 14, finding 1).

Hypothesis draws batches of payloads over the contract's JSON shapes (v1 messages, arrays of
them, SenML packs, any JSON, any bytes), with free-form contexts from ordinary to hostile (deep
nesting, long strings, many keys, huge numbers), and hands each batch to the real ingest on
real PostgreSQL (`IngestWorld`). Each batch must be handled without an exception; every reading
the contract accepts is in `readings`; every refusal is in `rejected_readings` with its reason.
Seqs are unique within a drawn batch (reuse is tested on its own in test_exactly_once.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ingest.bindings import Binding
from ingest.contract import DEFAULT_LIMITS, METRICS, decode, readings_topic
from tests.integration.ingest_world import EPOCH, ingest_world
from vigil.settings import Settings

UNITS = sorted({u for spec in METRICS.values() for u in spec.units})
scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=6) | st.dictionaries(st.text(max_size=12), c, max_size=6),
    max_leaves=40,
)


def _nest(depth: int) -> Any:
    doc: Any = 1
    for _ in range(depth):
        doc = [doc] if depth % 2 else {"a": doc}
    return doc


hostile_contexts = st.one_of(
    st.integers(1, 250).map(_nest),  # orjson itself refuses to write more than 255 levels
    st.integers(1, 5_000).map(lambda n: {"s": "x" * n}),
    st.integers(1, 300).map(lambda n: {f"k{i}": i for i in range(n)}),
    st.integers(1, 300).map(lambda n: {"a": list(range(n))}),
    st.sampled_from([{"n": 2**63}, {"n": -(2**63)}, {"n": 1e308}, {"n": 5e-324}]),
)
contexts = st.none() | json_values.filter(lambda v: isinstance(v, dict)) | hostile_contexts
readings = st.fixed_dictionaries(
    {
        "metric": st.sampled_from([*METRICS, "nope"]),
        "value": st.integers(-10, 1_200) | st.floats(allow_nan=False) | st.text(max_size=3),
        "unit": st.sampled_from(UNITS) | st.none() | st.text(max_size=4),
    }
)
minutes_ago = st.floats(-10, 60 * 24 * 8)


@st.composite
def v1_message(draw: st.DrawFn, device: str, seq: int) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=draw(minutes_ago))
    doc: dict[str, Any] = {
        "v": draw(st.sampled_from([1, 1, 1, 1, 2])),
        "device_id": device,
        "seq": seq,
        "ts": draw(st.just(at.isoformat()) | st.text(max_size=30)),
        "readings": draw(st.lists(readings, min_size=1, max_size=4)),
    }
    context = draw(contexts)
    if context is not None:
        doc["context"] = context
    return doc


@st.composite
def senml_pack(draw: st.DrawFn, device: str, seq: int) -> list[dict[str, Any]]:
    base: dict[str, Any] = {"bn": f"urn:dev:id:{device}:", "seq": seq}
    if draw(st.booleans()):  # absolute time; else relative to receipt
        base["bt"] = (datetime.now(UTC) - timedelta(minutes=draw(minutes_ago))).timestamp()
    records = [
        {"n": r["metric"], "v": r["value"], "u": r["unit"]}
        for r in draw(st.lists(readings, min_size=1, max_size=3))
    ]
    return [{**base, **records[0]}, *records[1:]]


@st.composite
def payload(draw: st.DrawFn, device: str, seq: int) -> bytes:
    kind = draw(st.sampled_from(["v1", "v1", "v1", "batch", "senml", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return _dumps(draw(json_values))
    if kind == "senml":
        return _dumps(draw(senml_pack(device, seq * 10)))
    if kind == "batch":
        count = draw(st.integers(1, 3))
        return _dumps([draw(v1_message(device, seq * 10 + i)) for i in range(count)])
    return _dumps(draw(v1_message(device, seq * 10)))


def _dumps(doc: Any) -> bytes:
    """The stdlib writer: unlike orjson it writes integers past 64 bits, as devices may."""
    return json.dumps(doc, separators=(",", ":")).encode()


@pytest.mark.timeout(600)
def test_the_ingest_survives_any_batch_and_stores_everything_valid(
    settings: Settings, dsn: str, tag: str
) -> None:
    names = itertools.count()
    runner = asyncio.Runner()
    world_cm = ingest_world(settings, dsn, tag, [])
    world = runner.run(world_cm.__aenter__())

    @st.composite
    def batches(draw: st.DrawFn) -> list[bytes]:
        size = draw(st.integers(1, 6))
        return [draw(payload("DEVICE", i)) for i in range(size)]

    async def check(batch: list[bytes]) -> None:
        # A device of its own for every run, replays included: nothing left over from others.
        device = f"{tag}-d{next(names)}"
        batch = [data.replace(b"DEVICE", device.encode()) for data in batch]
        binding = Binding(device, world.patient, EPOCH, None, "bp_cuff", 3600.0)
        world.service.bindings = world.service.bindings.replace_device(device, [binding])
        received = datetime.now(UTC)
        await world.send(device, *batch, at=received)
        expected_rows: set[tuple[int, str]] = set()
        expected_refusals: set[tuple[int | None, str]] = set()
        for data in batch:
            decoded = decode(readings_topic(device), data, received, DEFAULT_LIMITS)
            expected_rows |= {(m.seq, x.metric) for m in decoded.messages for x in m.measurements}
            expected_refusals |= {(r.seq, r.reason.value) for r in decoded.rejections}
        stored = await world.rows("SELECT seq, metric FROM readings WHERE device_id = %s", device)
        refused = await world.rows(
            "SELECT seq, reason FROM rejected_readings WHERE device_id = %s OR"
            " (device_id IS NULL AND topic = %s)",
            device, readings_topic(device),
        )  # fmt: skip
        assert set(stored) == expected_rows
        assert set(refused) == expected_refusals
        assert "unstorable" not in {r for _, r in refused}, "the contract let a poison through"

    @hypothesis_settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(batches())
    def run(batch: list[bytes]) -> None:
        runner.run(check(batch))

    try:
        run()
        assert next(names) >= 150  # every drawn batch went through the ingest
        runner.run(check([_deep("DEVICE")]))  # the issue's own poison message, 1,000 levels
    finally:
        runner.run(world_cm.__aexit__(None, None, None))
        runner.close()


def _deep(device: str) -> bytes:
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat().encode()
    head = b'{"v":1,"device_id":"%s","seq":1,"ts":"%s",' % (device.encode(), ts)
    head += b'"readings":[{"metric":"spo2","value":97,"unit":"%"}],"context":'
    return head + b'{"a":' * 1_000 + b"1" + b"}" * 1_000 + b"}"
