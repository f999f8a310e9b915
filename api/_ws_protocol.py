"""The alerts websocket's frames, as pure functions: parse what a client sends after the
handshake, and build the server's hello, ack_result and error frames (JSON text).

Must not: touch the socket, the database or the clock (api.ws does).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

MAX_CLIENT_FRAME = 4096  # bytes; an ack is ~100


@dataclass(frozen=True, slots=True)
class AckRequest:
    alert_id: uuid.UUID
    ref: Any  # echoed back as is, so the client can match the answer


@dataclass(frozen=True, slots=True)
class BadRequest:
    ref: Any
    message: str
    code: str = "invalid_message"


def parse_client(raw: str | bytes | None) -> AckRequest | BadRequest:
    """A client frame: `{"type": "ack", "alert_id": "<uuid>", "ref": <any>}` or a reason why
    not. Never raises: a malformed message gets an error frame, not a disconnect."""
    if raw is None:
        return BadRequest(None, "expected a JSON text frame")
    if len(raw) > MAX_CLIENT_FRAME:
        return BadRequest(None, f"a client message has at most {MAX_CLIENT_FRAME} bytes")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return BadRequest(None, "not JSON")
    if not isinstance(doc, dict):
        return BadRequest(None, "expected a JSON object")
    ref = doc.get("ref")
    if doc.get("type") != "ack":
        return BadRequest(ref, "unknown message type; expected 'ack'", "unknown_type")
    try:
        alert_id = uuid.UUID(str(doc["alert_id"]))
    except (KeyError, ValueError):
        return BadRequest(ref, "alert_id must be a UUID")
    return AckRequest(alert_id, ref)


def _text(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def hello(
    staff_id: str, role: str, teams: frozenset[str], tiers: frozenset[int], after: int
) -> str:
    return _text(
        {
            "type": "hello",
            "staff_id": staff_id,
            "role": role,
            "teams": sorted(teams),
            "tiers": sorted(tiers),
            "after": after,
        }
    )


def ack_result(ref: Any, alert: dict[str, Any]) -> str:
    return _text({"type": "ack_result", "ref": ref, "ok": True, "alert": alert})


def error(ref: Any, code: str, message: str) -> str:
    return _text({"type": "error", "ref": ref, "code": code, "message": message})
