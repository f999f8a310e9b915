"""Device credentials for the broker: issue on registration, rotate, revoke; each one audited.

The one path by which a device gets an MQTT credential: the REST API (`POST /devices`,
`POST /devices/{id}/credential`, `DELETE /devices/{id}/credential`) and `vigil enrol-demo` both
call these functions. The broker (its dynamic-security plugin, `ingest.dynsec`) holds only a
salted hash; the plain password is generated here and returned once, never stored or logged.

Each function writes its audit entry in the caller's transaction and changes the broker last, so
a refused broker change rolls the registration and the audit entry back with it. (A broker
change followed by a failed commit leaves a credential for an unregistered device, which a
retry of the registration replaces: the reverse order could leave a registered device that
cannot connect with the credential it was shown.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from api.auth import Principal
from api.queries import audit
from api.queries import devices as q
from ingest.dynsec import BrokerAccounts, new_password


async def register(
    conn: AsyncConnection[Any],
    broker: BrokerAccounts,
    actor: Principal,
    at: datetime,
    values: dict[str, Any],
) -> tuple[dict[str, Any], str] | None:
    """Register a device and issue its credential: (device row, password); None if it exists."""
    row = await q.create(conn, values)
    if row is None:
        return None
    password = new_password()
    await _audit(conn, actor, at, "device_register", row)
    await broker.put_devices({row["id"]: password})  # replaces a credential left by a failure
    return row, password


async def rotate(
    conn: AsyncConnection[Any], broker: BrokerAccounts, actor: Principal, at: datetime,
    row: dict[str, Any],
) -> str:  # fmt: skip
    """A new password for the device; the old one is refused from now on. `NoSuchDeviceError` when
    its credential was revoked (issue a new one with `reissue`)."""
    password = new_password()
    await _audit(conn, actor, at, "device_credential_rotate", row)
    await broker.set_password(row["id"], password)
    return password


async def reissue(
    conn: AsyncConnection[Any], broker: BrokerAccounts, actor: Principal, at: datetime,
    row: dict[str, Any],
) -> str:  # fmt: skip
    """A credential for a registered device whatever it had (revoked or not)."""
    password = new_password()
    await _audit(conn, actor, at, "device_credential_issue", row)
    await broker.put_devices({row["id"]: password})
    return password


async def revoke(
    conn: AsyncConnection[Any], broker: BrokerAccounts, actor: Principal, at: datetime,
    row: dict[str, Any],
) -> None:  # fmt: skip
    """Delete the credential: the broker disconnects the device and refuses it from now on."""
    await _audit(conn, actor, at, "device_credential_revoke", row)
    await broker.delete_device(row["id"])


async def provision(
    conn: AsyncConnection[Any], broker: BrokerAccounts, actor: Principal, at: datetime,
    passwords: dict[str, str],
) -> None:  # fmt: skip
    """Set given credentials of registered devices (the demo's simulated devices derive theirs
    from a shared secret); one audit entry per device."""
    for device_id in passwords:
        row = await q.get(conn, device_id)
        if row is None:
            raise LookupError(f"device {device_id} is not registered")
        await _audit(conn, actor, at, "device_credential_issue", row)
    await broker.put_devices(passwords)


async def _audit(
    conn: AsyncConnection[Any], actor: Principal, at: datetime, action: str, row: dict[str, Any]
) -> None:
    await audit.record(conn, actor, at, action, "device", [row.get("patient_id")],
                       {"device_id": row["id"]})  # fmt: skip
