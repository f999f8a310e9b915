"""What the alert writer does with a detection it cannot record (alerts.repository's fallback).

A detection refused even under its own savepoint (an unknown patient, a constraint) must not
vanish (DESIGN 9.2): it is kept whole in `refused_detections` with its reason, and the first
time it is kept staff get the technical alert `detection_unrecorded` for its patient (the
ingest's `technical_alerts`, one open per patient; repeats count). Both are written in the
writer's transaction, after the failed savepoint rolled back: they commit with the detections
that were recorded, or not at all. Idempotent on the detection id: a redelivered batch adds no
row and does not count again.

The reason is the error's class and SQLSTATE (ingest.retry.describe), never its text (a
database error can quote row values, so PHI). Must not: decide whether a detection can be
recorded (the writer tries), or swallow an error of its own (it raises: the batch fails, and
its caller retries it or stops).
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from ingest.ports import TechnicalAlert
from ingest.repository import upsert_technical_alert
from stream.detections import Detection

UNRECORDED = "detection_unrecorded"  # technical alert kind; its subject is the patient id


def as_json(d: Detection) -> dict[str, Any]:
    """Every field of the detection, as JSON (what it takes to build it again)."""
    doc = {f.name: getattr(d, f.name) for f in fields(d)}  # enums are str: stored as values
    doc.update(id=str(d.id), measured_at=d.measured_at.isoformat(),
               details=[list(pair) for pair in d.details])  # fmt: skip
    return doc


async def keep_refused(conn: AsyncConnection[Any], d: Detection, why: str, at: datetime) -> None:
    """Keep `d` and tell staff, in the caller's transaction; nothing if it is already kept."""
    cur = await conn.execute(
        "INSERT INTO refused_detections (detection_id, patient_id, rule_id, kind, severity,"
        " dangerous, detection, reason, refused_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (detection_id) DO NOTHING",
        (d.id, d.patient_id, d.rule_id, d.kind.value, d.severity.value, d.dangerous,
         Jsonb(as_json(d)), why, at),
    )  # fmt: skip
    if cur.rowcount != 1:
        return  # a redelivery: kept and told before
    dangerous = ", a value dangerous on its own" if d.dangerous else ""
    detail = (f"a detection ({d.kind.value}) of rule {d.rule_id}{dangerous}, not recorded ({why});"
              " kept in refused_detections")  # fmt: skip
    await upsert_technical_alert(conn, TechnicalAlert(UNRECORDED, d.patient_id, detail, at))
