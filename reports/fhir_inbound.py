"""A posted FHIR Observation (a phone app relaying a meter) as a device-contract v1 payload.

The mapping is total and checks nothing the contract checks: it builds the v1 message the device
would have published — `seq` from the Observation's `urn:vigil:seq` identifier, `ts` from
`effectiveDateTime`, one reading per value (a blood-pressure panel gives two), the metric from
the LOINC code (`fhir_codes.INBOUND`), value and UCUM unit as sent — and hands it to the same
`ingest.contract.decode` as MQTT payloads, through the ingest service. A missing seq, time, unit
or an unknown code becomes a field the contract refuses with its own reason (schema,
bad_timestamp, missing_unit, unknown_metric), stored and counted like any refusal.

Must not: validate values or units itself (that is the contract's job, never duplicated here),
or trust a subject: the patient comes from the device's binding, as for MQTT (DESIGN 3).
"""

from __future__ import annotations

from typing import Any

import orjson

from reports.fhir import SEQ_SYSTEM
from reports.fhir_codes import INBOUND, LOINC

UNKNOWN = "unknown"


def _metric(concept: Any) -> str:
    """The contract metric of a CodeableConcept: its first LOINC coding Vigil knows."""
    codings = concept.get("coding") if isinstance(concept, dict) else None
    for c in codings if isinstance(codings, list) else []:
        if isinstance(c, dict) and c.get("system") == LOINC and c.get("code") in INBOUND:
            return INBOUND[c["code"]]
    first = codings[0] if isinstance(codings, list) and codings else None
    code = first.get("code") if isinstance(first, dict) else None
    return f"{UNKNOWN}:{str(code)[:20]}" if code is not None else UNKNOWN


def _reading(metric: str, quantity: Any) -> dict[str, Any]:
    q = quantity if isinstance(quantity, dict) else {}
    return {"metric": metric, "value": q.get("value"), "unit": q.get("code", q.get("unit"))}


def _seq(doc: dict[str, Any]) -> Any:
    for ident in doc.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == SEQ_SYSTEM:
            value = ident.get("value")
            return int(value) if isinstance(value, str) and value.isdigit() else value
    return None


def readings_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The contract readings an Observation carries: its value, or its components'."""
    if "valueQuantity" in doc:
        return [_reading(_metric(doc.get("code")), doc["valueQuantity"])]
    components = doc.get("component")
    if not isinstance(components, list):
        return []
    return [
        _reading(_metric(c.get("code")), c.get("valueQuantity"))
        for c in components
        if isinstance(c, dict)
    ]


def device_payload(doc: Any, device_id: str) -> bytes:
    """The v1 payload of a posted Observation, sent by `device_id` (the caller's device)."""
    if not isinstance(doc, dict) or doc.get("resourceType") != "Observation":
        doc = {}
    message = {
        "v": 1,
        "device_id": device_id,
        "seq": _seq(doc),
        "ts": doc.get("effectiveDateTime"),
        "readings": readings_of(doc),
        "context": {"source": "fhir"},
    }
    return orjson.dumps(message)


def device_reference(doc: Any) -> str | None:
    """The `Device/{id}` reference of a posted Observation (the raw FHIR id), or None."""
    device = doc.get("device") if isinstance(doc, dict) else None
    reference = device.get("reference") if isinstance(device, dict) else None
    if isinstance(reference, str) and reference.startswith("Device/"):
        return reference.removeprefix("Device/")
    return None
