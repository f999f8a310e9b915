"""Device provisioning over the API (issue 14, finding 9), against the real broker: an admin
registers a device and gets its credential once, the device connects with it; rotation closes
the device's connection and refuses the old password; revocation disconnects the device and
refuses it; every step is in the audit log; nobody but an admin can do any of it."""

from __future__ import annotations

import psycopg
import pytest

from simulators.device import DeviceConnection, DeviceError, DeviceStats
from tests.integration.conftest import eventually
from tests.integration.devices import close_at_end
from tests.integration.rest_world import api_client, seed
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

V1 = "/api/v1"


async def device_login(settings: Settings, username: str, password: str) -> DeviceConnection:
    conn = DeviceConnection(username, password, settings.mqtt.host, settings.mqtt.port,
                            DeviceStats())  # fmt: skip
    close_at_end(conn.close)
    await conn.connect()
    return conn


async def dropped(conn: DeviceConnection, within_s: float) -> bool:
    """The broker closed the device's connection within `within_s` (seen by paho's loop)."""

    async def gone() -> bool:
        return not conn.connected

    return bool(await eventually(gone, timeout_s=within_s, interval_s=0.05))


def audit_actions(dsn: str, device_id: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT action, actor FROM audit_log WHERE detail->>'device_id' = %s ORDER BY id",
            (device_id,),
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


async def test_register_rotate_and_revoke_a_device(settings: Settings, dsn: str, tag: str) -> None:
    w = await seed(dsn, tag)
    admin, device_id = w.bearer(0, "admin"), f"{tag}-cuff"
    async with api_client(dsn) as c:
        made = await c.post(f"{V1}/devices", json={"id": device_id, "kind": "bp_cuff"},
                            headers=admin)  # fmt: skip
        assert made.status_code == 201, made.text
        cred = made.json()["credential"]
        assert (cred["username"], cred["client_id"]) == (device_id, device_id)
        first = await device_login(settings, device_id, cred["password"])
        # The device's record never shows the password again.
        assert "credential" not in (await c.get(f"{V1}/devices/{device_id}", headers=admin)).json()

        rotated = await c.post(f"{V1}/devices/{device_id}/credential", headers=admin)
        assert rotated.status_code == 200, rotated.text
        new_password = rotated.json()["password"]
        assert new_password != cred["password"]
        assert await dropped(first, within_s=5)
        with pytest.raises(DeviceError, match="refused"):
            await device_login(settings, device_id, cred["password"])
        second = await device_login(settings, device_id, new_password)

        revoked = await c.delete(f"{V1}/devices/{device_id}/credential", headers=admin)
        assert revoked.status_code == 204, revoked.text
        assert await dropped(second, within_s=5)
        with pytest.raises(DeviceError, match="refused"):
            await device_login(settings, device_id, new_password)
        again = await c.delete(f"{V1}/devices/{device_id}/credential", headers=admin)
        assert again.status_code == 404

        # After a revocation, a new credential can be issued on purpose.
        reissued = await c.post(f"{V1}/devices/{device_id}/credential", headers=admin)
        await device_login(settings, device_id, reissued.json()["password"])
    actor = w.staff(0, "admin")
    assert audit_actions(dsn, device_id) == [
        ("device_register", actor), ("device_credential_rotate", actor),
        ("device_credential_revoke", actor), ("device_credential_issue", actor)]  # fmt: skip


@pytest.mark.parametrize("role", ["nurse", "doctor", "patient", "device"])
async def test_only_admins_provision(dsn: str, tag: str, role: str) -> None:
    w = await seed(dsn, tag)
    who, device = w.bearer(0, role), w.teams[0].device
    async with api_client(dsn) as c:
        made = await c.post(f"{V1}/devices", json={"id": f"{tag}-x", "kind": "cgm"}, headers=who)
        rotated = await c.post(f"{V1}/devices/{device}/credential", headers=who)
        revoked = await c.delete(f"{V1}/devices/{device}/credential", headers=who)
    assert {made.status_code, rotated.status_code, revoked.status_code} <= {403, 404}
    assert audit_actions(dsn, device) == []


@pytest.mark.parametrize("device_id", ["svc-ingest", "vigil-ingest", "vigil-provision-x"])
async def test_service_names_are_never_device_ids(dsn: str, tag: str, device_id: str) -> None:
    w = await seed(dsn, tag)
    async with api_client(dsn) as c:
        made = await c.post(f"{V1}/devices", json={"id": device_id, "kind": "cgm"},
                            headers=w.bearer(0, "admin"))  # fmt: skip
    assert made.status_code == 422
