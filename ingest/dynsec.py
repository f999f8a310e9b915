"""Device credentials in the broker: Mosquitto's dynamic-security plugin, over its control topic.

`BrokerAccounts` connects as the broker-admin service account (`svc-provision`), publishes a
batch of commands to `$CONTROL/dynamic-security/v1` and waits for the plugin's answer on
`.../response`, matched by correlation data. The broker applies every command at once and keeps
it in its own state file: a created device can connect immediately, a deleted one is
disconnected and refused from then on, a re-keyed one must use its new password. Nothing here
writes files or signals processes (the password-file approach this replaces did both).

A device is a plugin client whose username and pinned client id are both the device id, so no
other login can connect under that client id (and take over its session), and a device can
never use a service's client id: ids starting with `svc-` or `vigil-` are reserved
(`reserved_id`). Topics come from the broker's ACL file (`pattern ... %u`).

Cost: the plugin's work per command grows with the number of accounts it holds (measured on
this project's development broker: 150 creations took 0.39 s with ~30 accounts and 27 s with
2,018, on a loaded machine), so a batch's answer is awaited for `timeout_s` plus
`PER_COMMAND_S` per command.

Errors: `BrokerAccountsError` (retriable: the broker is unreachable or did not answer),
`NoSuchDeviceError` (the broker holds no credential for that device), `DeviceExistsError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import ssl
from collections.abc import Iterable
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.paho_asyncio import AsyncioPaho

CONTROL = "$CONTROL/dynamic-security/v1"
RESERVED_PREFIXES = ("svc-", "vigil-")
PER_COMMAND_S = 0.5  # the answer's allowance per command in a batch (see Cost above)


class BrokerAccountsError(ConnectionError):
    """The broker could not be asked, or did not answer (retriable)."""


class NoSuchDeviceError(LookupError):
    """The broker holds no credential for this device."""


class DeviceExistsError(ValueError):
    """The broker already holds a credential for this device."""


def reserved_id(name: str) -> bool:
    """Names of service accounts and service client ids: never a device id."""
    return name.startswith(RESERVED_PREFIXES)


def new_password() -> str:
    return secrets.token_urlsafe(24)


class BrokerAccounts:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        timeout_s: float = 10.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._address = (host, port)
        self._tls = tls
        self._credentials = (username, password)
        self._timeout_s = timeout_s

    async def create_device(self, device_id: str, password: str) -> None:
        """A new device credential; `DeviceExistsError` if the broker has one already."""
        self._check(device_id)
        (error,) = await self.run([_create(device_id, password)])
        if error == "Client already exists":
            raise DeviceExistsError(device_id)
        _raise_on(error, device_id)

    async def set_password(self, device_id: str, password: str) -> None:
        """Re-key a device: its current connection is closed, the old password refused."""
        self._check(device_id)
        # The plugin of 2.0 keeps a connection made with the old password open: disabling and
        # re-enabling the client closes it (a rotation after a leak must cut the thief off).
        errors = await self.run([
            {"command": "setClientPassword", "username": device_id, "password": password},
            {"command": "disableClient", "username": device_id},
            {"command": "enableClient", "username": device_id},
        ])  # fmt: skip
        for error in errors:
            _raise_on(error, device_id)

    async def delete_device(self, device_id: str) -> None:
        """Revoke: the device is disconnected at once and refused from then on."""
        self._check(device_id)
        (error,) = await self.run([{"command": "deleteClient", "username": device_id}])
        _raise_on(error, device_id)

    async def put_devices(self, passwords: dict[str, str]) -> None:
        """Create or re-key many devices (idempotent; enrolment of a cohort)."""
        for device_id in passwords:
            self._check(device_id)
        errors = await self.run([_create(d, p) for d, p in passwords.items()])
        again = [d for d, e in zip(passwords, errors, strict=True) if e == "Client already exists"]
        rekey = [c for d in again for c in _rekey(d, passwords[d])]
        for failed in [e for e in errors if e not in (None, "Client already exists")]:
            _raise_on(failed, "")
        for outcome in await self.run(rekey) if rekey else []:
            _raise_on(outcome, "")

    async def run(self, commands: list[dict[str, Any]]) -> list[str | None]:
        """Send the commands in one message; return each one's error (None: done)."""
        tag = secrets.token_hex(8)
        for i, command in enumerate(commands):
            command["correlationData"] = f"{tag}-{i}"
        timeout_s = self._timeout_s + PER_COMMAND_S * len(commands)
        answers = await self._exchange(orjson.dumps({"commands": commands}), tag, timeout_s)
        return [answers.get(f"{tag}-{i}", "no answer") for i in range(len(commands))]

    def _check(self, device_id: str) -> None:
        if reserved_id(device_id) or not device_id:
            raise ValueError(f"{device_id!r} is not a device id (reserved for services)")

    async def _exchange(self, request: bytes, tag: str, timeout_s: float) -> dict[str, str | None]:
        loop = asyncio.get_running_loop()
        connack: asyncio.Future[ReasonCode] = loop.create_future()
        subscribed: asyncio.Future[None] = loop.create_future()
        answered: asyncio.Future[dict[str, str | None]] = loop.create_future()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"vigil-provision-{tag}",
                             protocol=mqtt.MQTTv5)  # fmt: skip
        client.username_pw_set(*self._credentials)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        client.on_connect = lambda c, u, f, reason, p: _settle(connack, reason)
        client.on_subscribe = lambda *args: _settle(subscribed, None)
        client.on_message = lambda c, u, msg: _answers(answered, msg.payload, tag)
        io = AsyncioPaho(client, loop)
        try:
            async with asyncio.timeout(timeout_s):
                client.connect(*self._address, keepalive=30, clean_start=True)
                if (reason := await connack).is_failure:
                    raise BrokerAccountsError(f"broker refused the admin account: {reason}")
                client.subscribe(CONTROL + "/response", qos=1)
                await subscribed
                client.publish(CONTROL, request, qos=1)
                return await answered
        except (OSError, TimeoutError) as exc:
            raise BrokerAccountsError(f"the control topic did not answer: {exc!r}") from exc
        finally:
            with contextlib.suppress(TimeoutError):
                await io.disconnect()


def _create(device_id: str, password: str) -> dict[str, Any]:
    return {"command": "createClient", "username": device_id, "clientid": device_id,
            "password": password, "textname": "Vigil device"}  # fmt: skip


def _rekey(device_id: str, password: str) -> Iterable[dict[str, Any]]:
    yield {"command": "setClientId", "username": device_id, "clientid": device_id}
    yield {"command": "setClientPassword", "username": device_id, "password": password}


def _raise_on(error: str | None, device_id: str) -> None:
    if error is None:
        return
    if error == "Client not found":
        raise NoSuchDeviceError(device_id)
    raise BrokerAccountsError(f"the broker refused the change: {error}")


def _settle(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _answers(
    future: asyncio.Future[dict[str, str | None]], payload: bytes | bytearray, tag: str
) -> None:
    """The plugin's response: {"responses": [{"command", "error"?, "correlationData"?}]}."""
    try:
        responses = orjson.loads(payload)["responses"]
        found = {r["correlationData"]: r.get("error") for r in responses if "correlationData" in r}
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return
    if any(key.startswith(tag) for key in found):
        _settle(future, found)
