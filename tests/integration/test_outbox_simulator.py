"""The simulator's side of tier 1 on real Mosquitto: a device shows a patient message once however
often it arrives, and a re-measure prompt about its metric makes it measure again soon after."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from ingest.contract import messages_topic
from ingest.downlink import MqttPublisher
from simulators.runner import RunConfig, Simulation
from tests.integration.conftest import eventually
from tests.integration.devices import enrol
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio


def prompt(message_id: str, metric: str) -> bytes:
    return orjson.dumps({"v": 1, "message_id": message_id, "alert_id": None,
                         "template": "remeasure", "lang": "en", "text": "Measure again.",
                         "metric": metric, "sent_at": "2026-11-23T08:01:07+00:00"})  # fmt: skip


@pytest.mark.timeout(60)
async def test_a_remeasure_prompt_makes_the_device_measure_again(
    settings: Settings, dsn: str, tag: str
) -> None:
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    kinds = {d.profile.kind.value: d.device_id for d in patients[0].devices}
    cuff, wearable = kinds["bp_cuff"], kinds["wearable"]
    m = settings.mqtt
    sim = Simulation(
        patients,
        RunConfig(m.host, m.port, settings.sim.secret.get_secret_value(), duration_s=12.0,
                  progress=False, drain_s=0.0, record=True, remeasure_after_s=1.0),
    )  # fmt: skip
    run = asyncio.create_task(sim.run())
    out = MqttPublisher(host=m.host, port=m.port, username=m.username,
                        password=m.password.get_secret_value(), client_id=f"{tag}-downlink")  # fmt: skip
    message_id = str(uuid.uuid4())
    await asyncio.wait_for(sim.connected.wait(), 20)  # every device connected and subscribed
    # The same message three times, as an outbox redelivers it: shown and acted on once.
    for _ in range(3):
        for device_id in (cuff, wearable):
            await out(messages_topic(device_id), prompt(message_id, "systolic_bp"))
    await out.close()

    async def all_arrived() -> bool:
        return sim.stats.messages + sim.stats.duplicate_messages == 6

    assert await eventually(all_arrived, timeout_s=10)
    stats = await asyncio.wait_for(run, 30)
    assert (stats.messages, stats.duplicate_messages) == (2, 4)  # one shown per device
    assert stats.remeasured == 1  # the cuff measures blood pressure; the wearable does not
    cuff_readings = [seq for device_id, seq, _ in sim.sent_log if device_id == cuff]
    assert cuff_readings  # the re-measurement went out on the cuff's readings topic
