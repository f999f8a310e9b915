"""Helpers of the FHIR tests: validate what the API answers with `fhir.resources` (R4B models,
R4's resources), and readings of every metric for a patient of the REST world."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

MODELS: dict[str, Any] = {"Patient": Patient, "Device": Device, "Observation": Observation,
                          "Flag": Flag, "Bundle": Bundle, "OperationOutcome": OperationOutcome}  # fmt: skip

# device suffix, kind, [(metric, value, unit)] per message
KIT = [
    ("cuff", "bp_cuff", [("systolic_bp", 150.0), ("diastolic_bp", 95.0), ("heart_rate", 71.0)]),
    ("cgm", "cgm", [("glucose", 65.0)]),
    ("meter", "glucometer", [("glucose", 140.0)]),
    ("ox", "oximeter", [("spo2", 94.0), ("heart_rate", 88.0)]),
    ("scale", "scale", [("weight", 82.5)]),
    ("thermo", "thermometer", [("body_temperature", 37.9)]),
    ("band", "wearable", [("respiratory_rate", 18.0)]),
]
UNITS = {"systolic_bp": "mm[Hg]", "diastolic_bp": "mm[Hg]", "heart_rate": "/min", "spo2": "%",
         "glucose": "mg/dL", "weight": "kg", "body_temperature": "Cel", "respiratory_rate": "/min"}  # fmt: skip


def valid(resource: Any) -> dict[str, Any]:
    """The resource, after the library validated it (a Bundle's entries with it)."""
    assert isinstance(resource, dict), resource
    MODELS[resource["resourceType"]].model_validate(resource)
    for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
        valid(entry["resource"])  # each by its own model, whatever the Bundle's checks cover
    return resource


def fhir_json(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    return valid(orjson.loads(response.content))


async def seed_kit(conn: Any, tag: str, patient_id: str, at: datetime, days: int = 1) -> int:
    """Bind one device of every kind to the patient and store a message each per hour; the
    number of readings stored."""
    from api import registry

    n = 0
    for suffix, kind, readings in KIT:
        device = f"{tag}-{suffix}"
        await registry.upsert_device(conn, device, kind, 3600)
        await registry.bind_device(conn, device, patient_id, at - timedelta(days=days + 1),
                                   reason="enrolment", changed_by="test")  # fmt: skip
        for h in range(24 * days):
            t = at - timedelta(hours=h)
            for metric, value in readings:
                await conn.execute(
                    "INSERT INTO readings (time, device_id, seq, metric, patient_id, value, unit,"
                    " orig_value, orig_unit, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s)",
                    (t, device, 1000 + h, metric, patient_id, value, UNITS[metric], value,
                     UNITS[metric], t),
                )  # fmt: skip
                n += 1
    return n
