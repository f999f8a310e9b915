"""The API's error mapping and its pure helpers, without a database: an unexpected exception is a
500 `internal_error` with no traceback; a request without a token is a 401 before any SQL;
page cursors round-trip and refuse forgeries; patient scoping by role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from api import cursors
from api.access import sees_patient
from api.app import create_app
from api.auth import Principal
from api.errors import InvalidRequestError

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PATIENT = "Zed"


def app_without_db() -> httpx.AsyncClient:
    app = create_app(pool=None, feed=None, clock=lambda: NOW, allowed_origins=[],  # type: ignore[arg-type]
                     storage_mode="plain")  # fmt: skip

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"secret detail of patient {PATIENT}")  # a value, as at run time

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://vigil.test")


@pytest.mark.asyncio
async def test_an_unexpected_error_is_a_bare_500(caplog: pytest.LogCaptureFixture) -> None:
    async with app_without_db() as client:
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "Zed" not in r.text and "Traceback" not in r.text
    # logged with its class and where it was raised, never its message (it can quote PHI)
    (record,) = [r for r in caplog.records if r.name == "api.error_handlers"]
    assert "GET /boom (RuntimeError)" in record.getMessage() and "in boom" in record.getMessage()
    assert "Zed" not in caplog.text and record.exc_info is None


@pytest.mark.asyncio
async def test_no_token_is_401_and_unknown_routes_404_as_json() -> None:
    async with app_without_db() as client:
        unauth = await client.get("/api/v1/patients")
        missing = await client.get("/api/v2/whatever")
    assert unauth.status_code == 401 and unauth.headers["www-authenticate"] == "Bearer"
    assert unauth.json()["error"]["code"] == "unauthenticated"
    assert missing.json()["error"]["code"] == "not_found"


def test_cursors_round_trip_and_refuse_forgeries() -> None:
    key = (NOW, uuid.uuid4())
    assert cursors.decode(cursors.encode(*key), (datetime, uuid.UUID)) == key
    for forged in ("", "!!", cursors.encode("x"), cursors.encode(NOW.replace(tzinfo=None), "a"),
                   cursors.encode(NOW, "not-a-uuid"), cursors.encode(NOW, 1)):  # fmt: skip
        with pytest.raises(InvalidRequestError):
            cursors.decode(forged, (datetime, uuid.UUID))


@pytest.mark.parametrize(
    ("role", "own", "patient_id", "team_id", "sees"),
    [
        ("nurse", None, "p1", "a", True),
        ("nurse", None, "p9", "b", False),
        ("admin", None, "p9", "b", False),
        ("patient", "p1", "p1", "a", True),
        ("patient", "p1", "p2", "a", False),  # same team, another patient
        ("device", None, "p1", "a", False),
    ],
)
def test_who_sees_which_patient(
    role: str, own: str | None, patient_id: str, team_id: str, sees: bool
) -> None:
    caller = Principal("x", role, frozenset({"a"}), NOW + timedelta(hours=1),
                       "patient" if own else "staff", patient_id=own)  # fmt: skip
    assert sees_patient(caller, patient_id, team_id) is sees
