"""FHIR R4 resources from Vigil's rows: Patient, Device, Observation, Flag, Bundle and
OperationOutcome, as plain JSON-ready dicts (DESIGN 11, issue 13).

Pure: rows in, dicts out, no I/O, no clock. Dicts rather than model objects because the bulk
export maps hundreds of thousands of readings per second; the tests validate every kind of
resource built here with `fhir.resources` (R4B models: R4 and R4B define these resources alike).

Ids. FHIR ids are `[A-Za-z0-9\\-.]{1,64}`; Vigil's ids may hold `_` and other characters, so
`fhir_id` escapes every other character as `.xx` (its hex code, `.` itself as `.2e`), reversibly.
A reading has no surrogate id: its Observation id is `{key}-{seq}-{fhir_id(device)}` from its
natural key (device, seq) and the code table's key (`bp` for a blood-pressure panel, whose two
readings share a device message). An id longer than 64 characters becomes `.h` and a digest
(never an escape): stable, valid, but not readable back (`parse_observation_id` answers None).

Must not: query, read settings, or decide who may see what (api.routes.fhir does).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from reports import fhir_codes as codes

VIGIL_SYSTEM = "urn:vigil"
PATIENT_SYSTEM = "urn:vigil:patient"
DEVICE_SYSTEM = "urn:vigil:device"
READING_SYSTEM = "urn:vigil:reading"  # identifier value: "{device_id}/{seq}"
SEQ_SYSTEM = "urn:vigil:seq"  # posted Observations: the device's own counter (issue 13)
RULE_SYSTEM = "urn:vigil:alert-rule"
SEVERITY_SYSTEM = "urn:vigil:alert-severity"
_SAFE = re.compile(r"[A-Za-z0-9-]")
_PLAIN = re.compile(r"[A-Za-z0-9-]{1,64}")
_MAX_ID = 64


@functools.lru_cache(maxsize=65_536)
def fhir_id(text: str) -> str:
    """A valid FHIR id for a Vigil id: reversible escaping, a digest when too long (cached:
    the export asks for the same patients and devices hundreds of thousands of times)."""
    if _PLAIN.fullmatch(text):
        return text
    out = "".join(c if _SAFE.fullmatch(c) else "".join(f".{b:02x}" for b in c.encode())
                  for c in text)  # fmt: skip
    if 0 < len(out) <= _MAX_ID:
        return out
    return ".h" + hashlib.blake2b(text.encode(), digest_size=24).hexdigest()


def vigil_id(fid: str) -> str | None:
    """The Vigil id behind a FHIR id made by `fhir_id`, or None (a digest, or not ours)."""
    if not re.fullmatch(r"(?:[A-Za-z0-9-]|\.[0-9a-f]{2})+", fid):
        return None
    parts = re.split(r"((?:\.[0-9a-f]{2})+)", fid)
    try:
        return "".join(bytes.fromhex(p.replace(".", "")).decode() if p.startswith(".") else p
                       for p in parts)  # fmt: skip
    except UnicodeDecodeError:
        return None


def observation_id(key: str, device_id: str, seq: int) -> str:
    whole = f"{key}-{seq}-{fhir_id(device_id)}"
    if len(whole) <= _MAX_ID:
        return whole
    return ".h" + hashlib.blake2b(f"{key}/{seq}/{device_id}".encode(), digest_size=24).hexdigest()


class ObservationKey(NamedTuple):
    key: str
    device_id: str
    seq: int


def parse_observation_id(fid: str) -> ObservationKey | None:
    key, _, rest = fid.partition("-")
    seq, _, device = rest.partition("-")
    if (key not in codes.BY_KEY and key != codes.BP_KEY) or not seq.isdigit():
        return None
    device_id = vigil_id(device) if device else None
    if device_id is None or len(seq) > 19 or str(int(seq)) != seq:  # one id per reading
        return None
    return ObservationKey(key, device_id, int(seq))


def ref(kind: str, vigil: str) -> dict[str, str]:
    return {"reference": f"{kind}/{fhir_id(vigil)}"}


def _when(at: datetime) -> str:
    """An instant in UTC with `Z`, as FHIR writes it (and the models give it back)."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def patient(row: Mapping[str, Any]) -> dict[str, Any]:
    """A patient: Vigil keeps a display name, a time zone and the care team, nothing more."""
    return {
        "resourceType": "Patient",
        "id": fhir_id(row["id"]),
        "identifier": [{"system": PATIENT_SYSTEM, "value": row["id"]}],
        "active": True,
        "name": [{"text": row["display_name"]}],
    }


def device(row: Mapping[str, Any]) -> dict[str, Any]:
    """A device, with the patient of its latest binding (if any)."""
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": fhir_id(row["id"]),
        "identifier": [{"system": DEVICE_SYSTEM, "value": row["id"]}],
        "status": "active",
        "type": {"coding": [{"system": DEVICE_SYSTEM, "code": row["kind"]}], "text": row["kind"]},
    }
    if row.get("patient_id"):
        resource["patient"] = ref("Patient", row["patient_id"])
    return resource


class ReadingRow(NamedTuple):
    """One Observation's worth of readings, as the queries select it: for blood pressure the
    systolic row with its diastolic partner in `diastolic` (a diastolic without a systolic comes
    as `metric` 'diastolic_bp'); `kind` is the device's kind (it decides the glucose code)."""

    patient_id: str
    device_id: str
    seq: int
    time: datetime
    metric: str
    value: float
    diastolic: float | None
    kind: str | None


def _category(name: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": codes.CATEGORY_SYSTEM, "code": name}]}]


def _quantity(value: float, unit: str, display: str) -> dict[str, Any]:
    return {"value": value, "unit": display, "system": codes.UCUM, "code": unit}


_CATEGORIES = {name: _category(name) for name in (codes.VITAL_SIGNS, codes.LABORATORY)}
_CODES = {s.key: {"coding": [c.coding() for c in s.codes], "text": s.codes[0].display}
          for s in codes.BY_KEY.values()}  # fmt: skip
_BP_CODE = {"coding": [codes.BP_PANEL.coding()], "text": "Blood pressure"}
_COMPONENT_CODES = {m: {"coding": [c.coding()]} for m, c in codes.BP_COMPONENTS.items()}


def _bp_components(row: ReadingRow) -> list[dict[str, Any]]:
    unit, display = codes.BP_UNIT
    pairs = [("systolic_bp", row.value), ("diastolic_bp", row.diastolic)]
    if row.metric == "diastolic_bp":
        pairs = [("diastolic_bp", row.value)]
    return [{"code": _COMPONENT_CODES[m], "valueQuantity": _quantity(v, unit, display)}
            for m, v in pairs if v is not None]  # fmt: skip


def observation_key(metric: str, device_kind: str | None) -> str:
    """The id key of a reading's Observation (`bp` for either blood-pressure reading)."""
    if metric in codes.BP_COMPONENTS:
        return codes.BP_KEY
    return codes.spec_for(metric, device_kind).key


def observation(row: ReadingRow) -> dict[str, Any]:
    """The Observation of one reading (or one blood-pressure pair); the hot path of the export."""
    bp = row.metric in codes.BP_COMPONENTS
    spec = None if bp else codes.spec_for(row.metric, row.kind)
    key = codes.BP_KEY if spec is None else spec.key
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id(key, row.device_id, row.seq),
        "identifier": [{"system": READING_SYSTEM, "value": f"{row.device_id}/{row.seq}"}],
        "status": "final",
        "category": _CATEGORIES[codes.VITAL_SIGNS if spec is None else spec.category],
        "code": _BP_CODE if spec is None else _CODES[key],
        "subject": ref("Patient", row.patient_id),
        "effectiveDateTime": _when(row.time),
        "device": ref("Device", row.device_id),
    }
    if spec is None:
        resource["component"] = _bp_components(row)
    else:
        resource["valueQuantity"] = _quantity(row.value, spec.unit, spec.unit_display)
    return resource


_FLAG_STATUS = {"open": "active", "acknowledged": "active", "resolved": "inactive"}
_CLINICAL = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/flag-category",
                          "code": "clinical", "display": "Clinical"}]}]  # fmt: skip


def flag(row: Mapping[str, Any]) -> dict[str, Any]:
    """An alert episode as a Flag: active while open or acknowledged, inactive once resolved."""
    period: dict[str, str] = {"start": _when(row["opened_at"])}
    if row.get("resolved_at") is not None:
        period["end"] = _when(row["resolved_at"])
    severity = {"coding": [{"system": SEVERITY_SYSTEM, "code": row["severity"]}]}
    return {
        "resourceType": "Flag",
        "id": str(row["id"]),
        "identifier": [{"system": VIGIL_SYSTEM + ":alert", "value": str(row["id"])}],
        "status": _FLAG_STATUS[row["status"]],
        "category": [*_CLINICAL, severity],
        "code": {"coding": [{"system": RULE_SYSTEM, "code": row["rule_id"]}], "text": row["title"]},
        "subject": ref("Patient", row["patient_id"]),
        "period": period,
    }


def bundle(
    kind: str, resources: Iterable[dict[str, Any]], base: str, links: Mapping[str, str]
) -> dict[str, Any]:
    """A Bundle (searchset or collection) with full URLs under `base` (…/fhir/R4)."""
    entries = []
    for r in resources:
        entry: dict[str, Any] = {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    out: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    if links:
        out["link"] = [{"relation": rel, "url": url} for rel, url in links.items()]
    out["entry"] = entries
    return out


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome with one issue; `code` from the FHIR issue-type value set."""
    issue = {"severity": severity, "code": code, "diagnostics": diagnostics}
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def capability_statement(base_url: str, at: str) -> dict[str, Any]:
    """What this FHIR server does (GET /fhir/R4/metadata): FHIR's own description of an API,
    in place of the OpenAPI document the FHIR routes are left out of."""

    def resource(kind: str, search: tuple[str, ...], ops: tuple[str, ...] = ("read",)) -> Any:
        return {"type": kind, "interaction": [{"code": op} for op in ops],
                "searchParam": [{"name": n, "type": t} for n, t in
                                (p.split(":") for p in search)]}  # fmt: skip

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": at,
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "implementation": {"description": "Vigil remote patient monitoring", "url": base_url},
        "rest": [
            {
                "mode": "server",
                "security": {"description": "Bearer token or staff session; team-scoped (404)"},
                "resource": [
                    resource("Patient", ()),
                    resource("Device", ()),
                    resource(
                        "Observation",
                        ("patient:reference", "code:token", "date:date", "_count:number"),
                        ("read", "search-type", "create"),
                    ),
                    resource("Flag", ("patient:reference",), ("read", "search-type")),
                ],
                "operation": [
                    {
                        "name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    },
                    {
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
                    },
                ],
            }
        ],
    }
