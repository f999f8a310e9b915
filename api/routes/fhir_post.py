"""`POST /fhir/R4/Observation` (issue 13): a phone app relaying a meter posts readings as FHIR.

Who: a device, with its own API token (api.auth: subject "device"), exactly as it would publish
over MQTT with its own broker credential: the Observation is mapped to the v1 payload that device
would publish (reports.fhir_inbound) on its own readings topic, and handed to the ingest service
of this process (`relay`: `IngestService.decode` then `.store`). So the same contract checks,
device binding, quarantine of unbound devices, rejection store and counters, bad-device alarm,
de-duplication on (device, seq), stream, rules and alerts apply as to an MQTT reading — nothing
is re-implemented here. A `device` reference naming another device is the contract's
device_mismatch. Staff cannot post readings: a reading's provenance is a device.

Answers: 201 with `Location` of the Observation (a redelivery of the same seq is stored once and
answered the same); 422 with an OperationOutcome giving each refusal's reason and detail when
nothing was stored (the refusal is kept in rejected_readings, like an MQTT one); 201 with warnings
when some readings of the message were refused. Without an ingest in this process (the API-only
process of the distributed deployment) the endpoint answers 503.

Must not: validate readings itself, or log values (PHI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson
import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.access import Caller
from api.errors import ForbiddenError, InvalidRequestError, UnavailableError
from api.fhir_http import PREFIX, FhirResponse, base
from api.routes._common import now
from ingest.contract import readings_topic
from ingest.ports import RawMessage
from ingest.service import BatchResult, DecodedBatch
from reports import fhir
from reports.fhir_inbound import device_payload, device_reference

router = APIRouter(
    prefix=PREFIX, default_response_class=FhirResponse, include_in_schema=False
)  # FHIR describes itself: GET /fhir/R4/metadata
MAX_BODY_BYTES = 262_144  # a relayed Observation is a few hundred bytes


class ReadingRelay(Protocol):
    """What the endpoint needs of the ingest service (ingest.service.IngestService)."""

    def decode(self, batch: Sequence[RawMessage]) -> DecodedBatch: ...

    async def store(self, batches: Sequence[DecodedBatch]) -> BatchResult: ...


def _relay(request: Request) -> ReadingRelay:
    relay: ReadingRelay | None = request.app.state.relay
    if relay is None:
        raise UnavailableError("this process runs no ingest; post to the embedded runner")
    return relay


def _document(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # the contract refuses the empty message it maps to, and keeps it


def _issues(decoded: DecodedBatch, result: BatchResult, severity: str) -> list[dict[str, str]]:
    issues = [{"severity": severity, "code": "invalid",
               "diagnostics": f"{r.rejection.reason.value}: {r.rejection.detail}"}
              for r in decoded.rejected]  # fmt: skip
    seen = {r.rejection.reason.value for r in decoded.rejected}
    for seqs in result.rejected_seqs.values():
        issues += [{"severity": severity, "code": "invalid", "diagnostics": reason}
                   for _, reason in seqs if reason not in seen]  # fmt: skip
    return issues


@router.post("/Observation", status_code=201)
async def create_observation(request: Request, caller: Caller) -> Response:
    if caller.subject != "device" or caller.device_id is None:
        raise ForbiddenError("only a device posts readings, with its own token")
    relay = _relay(request)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError(f"an Observation of at most {MAX_BODY_BYTES} bytes")
    doc = _document(body)
    named = device_reference(doc)
    sender = caller.device_id if named is None else fhir.vigil_id(named) or named
    raw = RawMessage(readings_topic(caller.device_id), device_payload(doc, sender), now(request))
    decoded = relay.decode([raw])
    try:
        result = await relay.store([decoded])
    except psycopg.OperationalError:  # the database is away: nothing stored, try again later
        raise UnavailableError("the reading could not be stored now; send it again") from None
    if not decoded.bound:
        issues = _issues(decoded, result, "error")
        return FhirResponse({"resourceType": "OperationOutcome", "issue": issues}, 422)
    stored = decoded.bound[0]
    key = fhir.observation_key(stored.message.measurements[0].metric, stored.device_kind)
    fid = fhir.observation_id(key, stored.message.device_id, stored.message.seq)
    issues = _issues(decoded, result, "warning") or [
        {"severity": "information", "code": "informational", "diagnostics": "stored"}
    ]
    headers = {"Location": f"{base(request)}/Observation/{fid}"}
    return FhirResponse({"resourceType": "OperationOutcome", "issue": issues}, 201, headers)
