"""Orchestration of `vigil bench stream`: phases in a fixed order, each on a clean database."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pydantic import SecretStr

from simulators.fleet import cohort
from bench import ingest as bi
from bench import live as bs
from vigil.demo import enrol_demo
from vigil.settings import Settings

log = logging.getLogger("vigil.bench")


async def stream_figures(
    settings: Settings, count: int, live_s: float, state_patients: int
) -> dict[str, Any]:
    from bench.cli import _bench_database
    from vigil.runtime import utc_now  # noqa: F401 - keeps the composition root import order

    figures: dict[str, Any] = {}
    log.info("state size: %d patients x 4 streams", state_patients)
    figures.update(bs.state_bytes(state_patients))
    dsn, mode = _bench_database(settings)
    settings = settings.model_copy(
        update={"db": settings.db.model_copy(update={"dsn": SecretStr(dsn)})}
    )
    patients = cohort(50, 1, prefix="bench")
    await enrol_demo(settings, patients=50, seed=1, prefix="bench", dsn=dsn)
    traffic, readings = bs.run_traffic(count, patients)
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = 18761
    base = {"VIGIL_DB__DSN": dsn, "VIGIL_API__PORT": str(port)}

    figures["embedded_rps"] = round(
        await _embedded_drain(settings, dsn, traffic, readings, base, logs)
    )
    live = await _embedded_live(settings, dsn, patients, live_s, base, logs)
    figures.update(
        {
            "embedded_p99_ms": live["p99_ms"],
            "embedded_p50_ms": live["p50_ms"],
            "embedded_live": live,
        }
    )
    faust_rps, topic = await _faust_drain(settings, dsn, traffic, readings, base, logs)
    figures["faust_rps"] = round(faust_rps)
    figures["bare_consumer_rps"] = round(
        await bs.bare_consumer_rps(settings.kafka.bootstrap, topic, len(traffic))
    )
    live = await _faust_live(settings, dsn, patients, live_s, base, logs)
    figures.update(
        {"faust_p99_ms": live["p99_ms"], "faust_p50_ms": live["p50_ms"], "faust_live": live}
    )
    figures.update(
        {
            "readings_per_message": round(readings / count, 2),
            "messages": count,
            "storage_mode": mode,
        }
    )
    return figures


async def _embedded_drain(
    settings: Settings, dsn: str, traffic: Any, readings: int, base: dict[str, str], logs: Any
) -> float:
    cid = "bench-embedded"
    await bs.reset(dsn)
    bi.close_session(settings, cid)
    bi.open_session(settings, cid)
    await bi.publish_all(settings, traffic)
    procs = bs.Processes(settings, {**base, "VIGIL_MQTT__CLIENT_ID": cid}, logs)
    procs.start("run")
    try:
        return await bs.drain_rate(dsn, readings)
    finally:
        procs.stop()
        bi.close_session(settings, cid)


async def _embedded_live(
    settings: Settings, dsn: str, patients: Any, live_s: float, base: dict[str, str], logs: Any
) -> dict[str, float]:
    await bs.reset(dsn)
    cid = "bench-embedded-live"
    procs = bs.Processes(settings, {**base, "VIGIL_MQTT__CLIENT_ID": cid}, logs)
    procs.start("run")
    try:
        await procs.wait_for("embedded runner up", "run")
        return await bs.live_latency(settings, dsn, patients, 1000.0, live_s)
    finally:
        procs.stop()
        bi.close_session(settings, cid)


def _kafka_env(base: dict[str, str], name: str) -> dict[str, str]:
    stamp = time.time_ns()
    return {
        **base,
        "VIGIL_MQTT__CLIENT_ID": name,
        "VIGIL_KAFKA__READINGS_TOPIC": f"bench.{name}.{stamp}",
        "VIGIL_KAFKA__APP_ID": f"{name}-{stamp}",
    }


async def _faust_drain(
    settings: Settings, dsn: str, traffic: Any, readings: int, base: dict[str, str], logs: Any
) -> tuple[float, str]:
    await bs.reset(dsn)
    env = _kafka_env(base, "bench-faust")
    cid = env["VIGIL_MQTT__CLIENT_ID"]
    bi.close_session(settings, cid)
    bi.open_session(settings, cid)
    await bi.publish_all(settings, traffic)
    procs = bs.Processes(settings, env, logs)
    procs.start("worker")
    try:
        await procs.wait_for("[^Worker]: Ready", "worker")
        procs.start("ingest")
        return await bs.drain_rate(dsn, readings), env["VIGIL_KAFKA__READINGS_TOPIC"]
    finally:
        procs.stop()
        bi.close_session(settings, cid)


async def _faust_live(
    settings: Settings, dsn: str, patients: Any, live_s: float, base: dict[str, str], logs: Any
) -> dict[str, float]:
    await bs.reset(dsn)
    env = _kafka_env(base, "bench-faust-live")
    procs = bs.Processes(settings, env, logs)
    procs.start("worker")
    try:
        await procs.wait_for("[^Worker]: Ready", "worker")
        procs.start("ingest")
        await procs.wait_for("ingest up", "ingest")
        await asyncio.sleep(2)
        return await bs.live_latency(settings, dsn, patients, 1000.0, live_s)
    finally:
        procs.stop()
        bi.close_session(settings, env["VIGIL_MQTT__CLIENT_ID"])
