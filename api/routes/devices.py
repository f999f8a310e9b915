"""Devices, their broker credentials and their bindings to patients. Admins register devices
(and receive the device's MQTT credential once), rotate or revoke the credential
(api.device_credentials), and bind devices to patients of their teams (api.registry.bind_device);
staff read the devices bound in their teams; a device reads only its own record. An admin also
sees unbound devices, so as to bind them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg import AsyncConnection

from api import device_credentials as credentials
from api import registry
from api.access import ADMIN, DEVICE_READERS, STAFF, Caller, Pool, allow
from api.auth import Principal
from api.bodies import BindingIn, DeviceIn
from api.errors import ConflictError, NotFoundError, UnavailableError
from api.queries import audit
from api.queries import devices as q
from api.routes._common import now, visible_patient
from api.schemas import Binding, Device, DeviceCredential, RegisteredDevice
from ingest.dynsec import BrokerAccounts, BrokerAccountsError, NoSuchDeviceError

router = APIRouter(tags=["devices"])


def _sees(caller: Principal, device: dict[str, Any]) -> bool:
    if caller.role == "device":
        return caller.device_id is not None and caller.device_id == str(device["id"])
    team_id: str | None = device["team_id"]
    if team_id is None:
        return caller.role == "admin"
    return caller.role in STAFF and team_id in caller.team_ids


async def _visible(conn: AsyncConnection[Any], caller: Principal, device_id: str) -> Device:
    row = await q.get(conn, device_id)
    if row is None or not _sees(caller, row):
        raise NotFoundError(f"no device {device_id}")
    return Device.model_validate(row)


@router.get("/devices", response_model=list[Device])
async def list_devices(
    caller: Caller,
    pool: Pool,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Device]:
    allow(caller, STAFF)
    async with pool.connection() as conn:
        rows = await q.in_teams(conn, sorted(caller.team_ids), caller.role == "admin", after,
                                limit)  # fmt: skip
    return [Device.model_validate(r) for r in rows]


@router.get("/devices/{device_id}", response_model=Device)
async def get_device(device_id: str, caller: Caller, pool: Pool) -> Device:
    allow(caller, DEVICE_READERS)
    async with pool.connection() as conn:
        return await _visible(conn, caller, device_id)


def _broker(request: Request) -> BrokerAccounts:
    broker: BrokerAccounts | None = request.app.state.broker
    if broker is None:
        raise UnavailableError("device credentials are not served by this process")
    return broker


@router.post("/devices", response_model=RegisteredDevice, status_code=201)
async def register_device(
    request: Request, body: DeviceIn, caller: Caller, pool: Pool
) -> RegisteredDevice:
    """Register a device and issue its MQTT credential. The password is in this answer only."""
    allow(caller, ADMIN)
    broker = _broker(request)
    try:
        async with pool.connection() as conn, conn.transaction():
            made = await credentials.register(conn, broker, caller, now(request),
                                              body.model_dump())  # fmt: skip
    except BrokerAccountsError as exc:
        raise UnavailableError("the broker refused the credential; nothing registered") from exc
    if made is None:
        raise ConflictError(f"device {body.id} exists")
    row, password = made
    return RegisteredDevice(**Device.model_validate(row).model_dump(),
                            credential=DeviceCredential.of(row["id"], password))  # fmt: skip


@router.post("/devices/{device_id}/credential", response_model=DeviceCredential)
async def new_credential(
    request: Request, device_id: str, caller: Caller, pool: Pool
) -> DeviceCredential:
    """Rotate the device's credential (or issue one after a revocation): the old password is
    refused from now on and the device's connection is closed. The new one is in this answer
    only."""
    allow(caller, ADMIN)
    broker = _broker(request)
    try:
        async with pool.connection() as conn, conn.transaction():
            row = (await _visible(conn, caller, device_id)).model_dump()
            try:
                async with conn.transaction():  # a savepoint: no rotation, no audit entry
                    password = await credentials.rotate(conn, broker, caller, now(request), row)
            except NoSuchDeviceError:
                password = await credentials.reissue(conn, broker, caller, now(request), row)
    except BrokerAccountsError as exc:
        raise UnavailableError("the broker did not take the credential; nothing changed") from exc
    return DeviceCredential.of(device_id, password)


@router.delete("/devices/{device_id}/credential", status_code=204)
async def revoke_credential(request: Request, device_id: str, caller: Caller, pool: Pool) -> None:
    """Revoke the device's credential: the broker disconnects it and refuses it from now on."""
    allow(caller, ADMIN)
    broker = _broker(request)
    try:
        async with pool.connection() as conn, conn.transaction():
            row = (await _visible(conn, caller, device_id)).model_dump()
            await credentials.revoke(conn, broker, caller, now(request), row)
    except NoSuchDeviceError as exc:
        raise NotFoundError(f"device {device_id} has no credential") from exc
    except BrokerAccountsError as exc:
        raise UnavailableError("the broker did not take the revocation; retry") from exc


@router.get("/devices/{device_id}/bindings", response_model=list[Binding])
async def list_bindings(device_id: str, caller: Caller, pool: Pool) -> list[Binding]:
    allow(caller, STAFF)
    async with pool.connection() as conn:
        await _visible(conn, caller, device_id)
        rows = await q.bindings(conn, device_id, sorted(caller.team_ids))
    return [Binding.model_validate(r) for r in rows]


@router.post("/devices/{device_id}/bindings", response_model=Binding, status_code=201)
async def bind(
    request: Request, device_id: str, body: BindingIn, caller: Caller, pool: Pool
) -> Binding:
    allow(caller, ADMIN)
    valid_from = body.valid_from or now(request)
    async with pool.connection() as conn, conn.transaction():
        await _visible(conn, caller, device_id)
        await visible_patient(conn, caller, body.patient_id)
        changed = await registry.bind_device(
            conn,
            device_id,
            body.patient_id,
            valid_from,
            reason=body.reason,
            changed_by=caller.staff_id,
        )
        if not changed:
            raise ConflictError(f"device {device_id} is already bound to this patient")
        await audit.record(conn, caller, now(request), "bind", "device", [body.patient_id],
                           {"device_id": device_id})  # fmt: skip
        row = await q.binding_at(conn, device_id, valid_from)
    assert row is not None, "inserted in this transaction"
    return Binding.model_validate(row)
