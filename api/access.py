"""Who may do what: the caller's principal from its bearer token, the roles allowed per kind of
action, and team scoping of patients (DESIGN 6: another team's patient is "not found").

Pure apart from `principal`, the FastAPI dependency that authenticates the request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from alerts.actions import Actor
from api.auth import ANY_SUBJECT, Principal, authenticate
from api.errors import ForbiddenError, NotFoundError, UnauthenticatedError

STAFF = frozenset({"nurse", "doctor", "admin"})
ADMIN = frozenset({"admin"})
PHI_READERS = STAFF | {"patient"}  # a patient reads only their own record
DEVICE_READERS = STAFF | {"device"}  # a device reads only its own record

_bearer = HTTPBearer(auto_error=False, description="a Vigil API token")


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("a bearer token is required")
    clock: Callable[[], datetime] = request.app.state.clock
    pool: AsyncConnectionPool = request.app.state.pool
    found = await authenticate(pool, credentials.credentials, clock(), ANY_SUBJECT)
    if found is None:
        raise UnauthenticatedError("the token is unknown or expired")
    return found


Caller = Annotated[Principal, Depends(principal)]


def allow(caller: Principal, roles: frozenset[str]) -> None:
    if caller.role not in roles:
        raise ForbiddenError(f"a {caller.role} cannot do this")


def sees_patient(caller: Principal, patient_id: str, team_id: str) -> bool:
    if caller.role == "patient":
        return caller.patient_id == patient_id
    return caller.role in STAFF and team_id in caller.team_ids


def check_patient(caller: Principal, patient_id: str, team_id: str | None) -> str:
    """The patient's team, if the caller may see the patient; else NotFoundError."""
    if team_id is None or not sees_patient(caller, patient_id, team_id):
        raise NotFoundError(f"no patient {patient_id}")
    return team_id


def check_team(caller: Principal, team_id: str) -> None:
    if caller.role not in STAFF or team_id not in caller.team_ids:
        raise NotFoundError(f"no care team {team_id}")


def actor(caller: Principal) -> Actor:
    return Actor(caller.staff_id, caller.role, caller.team_ids)


def pool_of(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


Pool = Annotated[AsyncConnectionPool, Depends(pool_of)]
