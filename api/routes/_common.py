"""Helpers every router uses: the injected clock and the scoped look-up of a patient."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request
from psycopg import AsyncConnection

from api.access import check_patient
from api.auth import Principal
from api.errors import InvalidRequestError
from api.queries import patients as q


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


async def visible_patient(conn: AsyncConnection[Any], caller: Principal, patient_id: str) -> str:
    """The patient's team if the caller may see the patient; NotFoundError otherwise."""
    return check_patient(caller, patient_id, await q.team_of(conn, patient_id))


async def check_doctor(conn: AsyncConnection[Any], doctor: str | None, team_id: str) -> None:
    if doctor is not None and not await q.is_team_member(conn, doctor, team_id, "doctor"):
        raise InvalidRequestError(f"{doctor!r} is not a doctor of care team {team_id}")
