"""FHIR R4 mapping (reports.fhir): every kind of resource Vigil emits validates against the
`fhir.resources` models, every metric carries its LOINC code and UCUM unit, ids round-trip, and a
posted Observation becomes the v1 payload the device contract decodes (or refuses, with its
reason)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from ingest.contract import METRICS, RejectReason, decode, readings_topic
from reports import fhir, fhir_search
from reports import fhir_codes as codes
from reports.fhir_inbound import device_payload

AT = datetime(2026, 11, 23, 0, 1, 7, tzinfo=UTC)
MODELS = {"Patient": Patient, "Device": Device, "Observation": Observation, "Flag": Flag,
          "Bundle": Bundle, "OperationOutcome": OperationOutcome}  # fmt: skip


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """Validate with the library and check nothing was lost on the way (round trip)."""
    model = MODELS[resource["resourceType"]].model_validate(resource)
    assert orjson.loads(model.model_dump_json()) == orjson.loads(orjson.dumps(resource))
    return resource


def row(metric: str, value: float, kind: str = "wearable", dia: float | None = None) -> Any:
    return fhir.ReadingRow("p_1", "dev-7", 4812, AT, metric, value, dia, kind)


# metric, device kind, value -> LOINC codes, UCUM unit, category
SINGLE = [
    ("heart_rate", "wearable", 72.0, ["8867-4"], "/min", "vital-signs"),
    ("respiratory_rate", "wearable", 16.0, ["9279-1"], "/min", "vital-signs"),
    ("spo2", "oximeter", 95.0, ["2708-6", "59408-5"], "%", "vital-signs"),
    ("weight", "scale", 81.4, ["29463-7"], "kg", "vital-signs"),
    ("body_temperature", "thermometer", 37.2, ["8310-5"], "Cel", "vital-signs"),
    ("glucose", "glucometer", 104.0, ["2339-0"], "mg/dL", "laboratory"),
    ("glucose", "cgm", 68.0, ["99504-3"], "mg/dL", "laboratory"),
]


@pytest.mark.parametrize(("metric", "kind", "value", "loinc", "unit", "category"), SINGLE)
def test_single_value_observations_carry_loinc_and_ucum(
    metric: str, kind: str, value: float, loinc: list[str], unit: str, category: str
) -> None:
    obs = valid(fhir.observation(row(metric, value, kind)))
    assert [c["code"] for c in obs["code"]["coding"]] == loinc
    assert {c["system"] for c in obs["code"]["coding"]} == {"http://loinc.org"}
    q = obs["valueQuantity"]
    assert (q["value"], q["system"], q["code"]) == (value, "http://unitsofmeasure.org", unit)
    assert unit == METRICS[metric].canonical_unit  # the contract's canonical unit, unconverted
    assert obs["category"][0]["coding"][0]["code"] == category
    assert obs["subject"] == {"reference": "Patient/p.5f1"}
    assert obs["device"] == {"reference": "Device/dev-7"}
    assert obs["effectiveDateTime"] == "2026-11-23T00:01:07Z"


def test_every_stored_metric_has_a_code() -> None:
    mapped = {s.metric for s in codes.BY_KEY.values()} | set(codes.BP_COMPONENTS)
    assert mapped == set(METRICS)


@pytest.mark.parametrize(("metric", "value", "dia", "components"), [
    ("systolic_bp", 142.0, 91.0, [("8480-6", 142.0), ("8462-4", 91.0)]),
    ("systolic_bp", 142.0, None, [("8480-6", 142.0)]),
    ("diastolic_bp", 88.0, None, [("8462-4", 88.0)]),
])  # fmt: skip
def test_blood_pressure_is_one_panel_with_components(
    metric: str, value: float, dia: float | None, components: list[tuple[str, float]]
) -> None:
    obs = valid(fhir.observation(row(metric, value, "bp_cuff", dia)))
    assert obs["code"]["coding"][0]["code"] == "85354-9"
    assert obs["id"] == "bp-4812-dev-7"
    got = [(c["code"]["coding"][0]["code"], c["valueQuantity"]["value"]) for c in obs["component"]]
    assert got == components
    assert {c["valueQuantity"]["code"] for c in obs["component"]} == {"mm[Hg]"}
    assert "valueQuantity" not in obs


@pytest.mark.parametrize(
    "vigil_id", ["bp-0007", "cgm_01.a", "ü-x", "9", "a" * 64, "a" * 65, "h-1", ".h"]
)
def test_ids_are_valid_and_read_back(vigil_id: str) -> None:
    fid = fhir.fhir_id(vigil_id)
    valid({"resourceType": "Patient", "id": fid})
    assert fhir.vigil_id(fid) == (None if fid.startswith(".h") else vigil_id)
    assert fid.startswith(".h") == (vigil_id == "a" * 65)
    oid = fhir.observation_id("glu", vigil_id, 2**63 - 1)
    valid({"resourceType": "Observation", "id": oid, "status": "final", "code": {"text": "x"}})
    parsed = fhir.parse_observation_id(oid)
    assert parsed is None or parsed == ("glu", vigil_id, 2**63 - 1)
    assert (parsed is None) == (len(oid) > 10 and oid.startswith(".h"))


@pytest.mark.parametrize(
    "fid",
    ["bp-007-x", "bp--x", "bp-1-", "zz-1-x", "bp-1-a.5F", "bp-99999999999999999999-x", ".habc"],
)
def test_foreign_observation_ids_are_not_ours(fid: str) -> None:
    assert fhir.parse_observation_id(fid) is None


def test_patient_device_flag_bundle_and_outcome_validate() -> None:
    pat = valid(fhir.patient({"id": "p_1", "display_name": "Zed"}))
    dev = valid(fhir.device({"id": "dev-7", "kind": "bp_cuff", "patient_id": "p_1"}))
    alert = {"id": uuid.uuid4(), "status": "resolved", "severity": "critical", "rule_id": "bp.crisis",
             "title": "Hypertensive crisis", "patient_id": "p_1", "opened_at": AT,
             "resolved_at": AT + timedelta(hours=1)}  # fmt: skip
    flag = valid(fhir.flag(alert))
    assert flag["status"] == "inactive" and flag["period"]["end"] > flag["period"]["start"]
    assert valid(fhir.flag({**alert, "status": "open", "resolved_at": None}))["status"] == "active"
    obs = fhir.observation(row("heart_rate", 70.0))
    base = "https://vigil.test/fhir/R4"
    for kind in ("searchset", "collection"):
        b = valid(fhir.bundle(kind, [pat, dev, obs, flag], base, {"self": base + "/x"}))
        assert b["entry"][0]["fullUrl"] == f"{base}/Patient/p.5f1"
    valid(fhir.outcome("not-found", "no such Observation"))


NOW = AT + timedelta(minutes=5)


def decoded(doc: Any) -> Any:
    return decode(readings_topic("dev-7"), device_payload(doc, "dev-7"), NOW)


def posted(code: str, value: Any, unit: str | None = "mg/dL", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "Observation", "status": "final",
        "identifier": [{"system": fhir.SEQ_SYSTEM, "value": "77"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectiveDateTime": AT.isoformat(),
        "valueQuantity": {"value": value, "code": unit, "system": "http://unitsofmeasure.org"},
    }  # fmt: skip
    return {**doc, **extra}


def test_a_posted_observation_becomes_the_contract_message() -> None:
    doc = posted("2339-0", 6.1, "mmol/L")
    Observation.model_validate(doc)
    d = decoded(doc)
    assert d.rejections == ()
    (m,) = d.messages
    assert (m.device_id, m.seq, m.measured_at) == ("dev-7", 77, AT)
    assert [(x.metric, round(x.value, 1), x.orig_unit) for x in m.measurements] == [
        ("glucose", 109.9, "mmol/L")
    ]


def test_a_posted_bp_panel_gives_two_readings() -> None:
    bp = fhir.observation(row("systolic_bp", 150.0, "bp_cuff", 95.0))
    bp["identifier"] = [{"system": fhir.SEQ_SYSTEM, "value": "5"}]
    (m,) = decoded(bp).messages
    assert sorted((x.metric, x.value) for x in m.measurements) == [
        ("diastolic_bp", 95.0),
        ("systolic_bp", 150.0),
    ]


@pytest.mark.parametrize(("doc", "reason"), [
    (posted("2339-0", 4000), RejectReason.IMPLAUSIBLE),
    (posted("2339-0", 100, None), RejectReason.MISSING_UNIT),
    (posted("2339-0", 100, "kg"), RejectReason.UNKNOWN_UNIT),
    (posted("1234-5", 100), RejectReason.UNKNOWN_METRIC),
    (posted("2339-0", 100, identifier=[]), RejectReason.SCHEMA),
    (posted("2339-0", 100, effectiveDateTime=None), RejectReason.BAD_TIMESTAMP),
    (posted("2339-0", 100, effectiveDateTime="2026-11-23"), RejectReason.BAD_TIMESTAMP),
    (posted("2339-0", 100, effectiveDateTime=(NOW + timedelta(hours=1)).isoformat()), RejectReason.CLOCK_SKEW),
    ({"resourceType": "Patient"}, RejectReason.SCHEMA),
    ("not an object", RejectReason.SCHEMA),
])  # fmt: skip
def test_bad_posts_are_refused_by_the_contract_with_its_reason(
    doc: Any, reason: RejectReason
) -> None:
    d = decoded(doc)
    assert d.messages == ()
    assert [r.reason for r in d.rejections] == [reason]


D = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.mark.parametrize(("values", "since", "until"), [
    ([], None, None),
    (["ge2026-11-23"], D, None),
    (["gt2026-11-23"], D + timedelta(days=1), None),
    (["lt2026-11-23"], None, D),
    (["le2026-11-23"], None, D + timedelta(days=1)),
    (["2026-11-23"], D, D + timedelta(days=1)),
    (["ge2026-11-23T08:00:00+08:00", "lt2026-11-24T00:00:00Z"], D, D + timedelta(days=1)),
    (["gt2026-11-23T00:00:00Z"], D + timedelta(microseconds=1), None),
    (["ge2026-11-20", "ge2026-11-23", "lt2026-11-30", "lt2026-11-24"], D, D + timedelta(days=1)),
])  # fmt: skip
def test_date_parameters_select_a_half_open_range(
    values: list[str], since: Any, until: Any
) -> None:
    assert fhir_search.dates(values) == (since, until)


@pytest.mark.parametrize(("value", "code"), [
    ("sa2026-11-23", "not-supported"), ("ge2026-13-01", "invalid"), ("geyesterday", "invalid"),
])  # fmt: skip
def test_bad_date_parameters_are_refused(value: str, code: str) -> None:
    with pytest.raises(fhir_search.SearchError) as refused:
        fhir_search.dates([value])
    assert refused.value.code == code


def test_code_and_reference_parameters() -> None:
    assert fhir_search.codes(None) is None
    assert fhir_search.codes("1234-5") == ()
    bp = codes.CODE_FILTERS["85354-9"]
    assert fhir_search.codes("http://loinc.org|8480-6,85354-9") == (bp,)
    assert fhir_search.codes("99504-3") == (codes.CodeFilter(("glucose",), True),)
    assert fhir_search.reference("Patient/p.5f1", "Patient") == "p_1"
    assert fhir_search.reference("Device/x", "Patient") is None
