"""The broker's TLS listeners (issue 14, finding 2), with the private CA infra/services.sh makes:
devices log in over TLS with their password, or with a client certificate whose CN is the
device id; a certificate holds only its own device's client id and topics; no certificate, no
connection on the certificate listener; a client that does not trust the CA gets nothing."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.contract import readings_topic
from ingest.paho_asyncio import AsyncioPaho
from simulators.fleet import device_password
from tests.conftest import REPO
from tests.integration.devices import bp_device, bp_payload, close_at_end, enrol
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]

NOT_AUTHORIZED = 0x87


def device_cert(device_id: str) -> tuple[str, str]:
    """A client certificate for `device_id` from the local CA (services.sh device-cert)."""
    out = subprocess.run([str(REPO / "infra" / "services.sh"), "device-cert", device_id],
                         check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    return out, out[: -len(".crt")] + ".key"


class TlsClient:
    """A paho MQTT 5 client over TLS on the loop: CONNACK and PUBACK reasons as futures."""

    def __init__(self, client_id: str, ca_file: Path, cert: tuple[str, str] | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        certfile, keyfile = cert if cert else (None, None)
        self.client.tls_set(ca_certs=str(ca_file), certfile=certfile, keyfile=keyfile)
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[ReasonCode] = loop.create_future()
        self.pubacks: dict[int, asyncio.Future[ReasonCode]] = {}
        self.client.on_connect = lambda c, u, f, r, p: _settle(self.connack, r)
        self.client.on_publish = lambda c, u, mid, r, p: self.pubacks[mid].set_result(r)
        close_at_end(AsyncioPaho(self.client, loop).disconnect)

    async def connect(self, port: int) -> ReasonCode:
        await asyncio.to_thread(self.client.connect, "127.0.0.1", port)  # the TLS handshake
        return await asyncio.wait_for(self.connack, 10)

    async def publish(self, topic: str, payload: bytes) -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        self.pubacks[info.mid] = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(self.pubacks[info.mid], 10)


def _settle(future: asyncio.Future[ReasonCode], reason: ReasonCode) -> None:
    if not future.done():
        future.set_result(reason)


def tls_ports(settings: Settings) -> tuple[int, int, Path]:
    m = settings.mqtt
    assert m.tls_port and m.cert_port and m.ca_file, "services.sh writes the TLS endpoints"
    return m.tls_port, m.cert_port, m.ca_file


async def test_a_device_logs_in_over_tls_with_its_password(
    settings: Settings, dsn: str, tag: str
) -> None:
    tls_port, _, ca_file = tls_ports(settings)
    patients, _ = await enrol(settings, dsn, tag, patients=1)
    device = bp_device(patients)
    c = TlsClient(device, ca_file)
    c.client.username_pw_set(
        device, device_password(settings.sim.secret.get_secret_value(), device)
    )
    assert not (await c.connect(tls_port)).is_failure
    assert not (await c.publish(readings_topic(device), bp_payload(device, 1, 120))).is_failure


async def test_a_device_logs_in_with_its_certificate_and_only_as_itself(
    settings: Settings, dsn: str, tag: str
) -> None:
    _, cert_port, ca_file = tls_ports(settings)
    patients, _ = await enrol(settings, dsn, tag, patients=2)
    device, other = bp_device(patients, 0), bp_device(patients, 1)
    # The ingest-like holder of a service client id, to show it is not taken over.
    holder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"vigil-ingest-{tag}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    holder.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    held: asyncio.Future[ReasonCode] = asyncio.get_running_loop().create_future()
    dropped: list[ReasonCode] = []
    holder.on_connect = lambda c, u, f, r, p: _settle(held, r)
    holder.on_disconnect = lambda c, u, f, r, p: dropped.append(r)
    close_at_end(AsyncioPaho(holder, asyncio.get_running_loop()).disconnect)
    holder.connect(settings.mqtt.host, settings.mqtt.port)
    assert not (await asyncio.wait_for(held, 10)).is_failure

    # A certificate device asking for the service's client id gets its own device id instead.
    c = TlsClient(f"vigil-ingest-{tag}", ca_file, device_cert(device))
    assert not (await c.connect(cert_port)).is_failure
    assert not (await c.publish(readings_topic(device), bp_payload(device, 1, 120))).is_failure
    spoof = await c.publish(readings_topic(other), bp_payload(other, 1, 199))
    assert spoof.value == NOT_AUTHORIZED
    assert dropped == [] and holder.is_connected()


async def refused_on_tls(port: int, ca_file: Path) -> bool:
    """True if a TLS client (no certificate) gets no MQTT answer: the handshake fails, or the
    broker closes the connection instead of answering a CONNECT."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    except (ssl.SSLError, OSError):
        return True
    try:
        writer.write(CONNECT)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4), 10)
    except (ssl.SSLError, OSError):
        return True
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, OSError):
            await writer.wait_closed()
    return answer == b""


# an MQTT 3.1.1 CONNECT: client id "x", clean session, keepalive 10 s
CONNECT = bytes([0x10, 13, 0, 4, *b"MQTT", 4, 2, 0, 10, 0, 1, *b"x"])


async def test_no_certificate_or_an_untrusted_broker_means_no_connection(
    settings: Settings, tmp_path: Path
) -> None:
    tls_port, cert_port, ca_file = tls_ports(settings)
    assert not await refused_on_tls(tls_port, ca_file)  # the check can tell: this one answers
    assert await refused_on_tls(cert_port, ca_file)  # no client certificate
    stranger = tmp_path / "other-ca.crt"
    made = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
        "/CN=not the CA", "-keyout", str(tmp_path / "k"), "-out", str(stranger),
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await made.wait() == 0
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection("127.0.0.1", tls_port,
                                      ssl=ssl.create_default_context(cafile=str(stranger)))  # fmt: skip
