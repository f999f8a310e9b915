"""`ingest.paho_asyncio.no_delay`: the MQTT clients' TCP sockets send each packet at once
(Nagle's algorithm held small packets up to the peer's 40 ms delayed ACK); a socket that is
not TCP is left alone. The broker does the same for its side (`set_tcp_nodelay true` in
infra/mosquitto/mosquitto.conf.in, checked here too)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ingest.paho_asyncio import no_delay
from tests.conftest import REPO


@pytest.fixture
def tcp_pair() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        try:
            yield client
        finally:
            client.close()
            accepted.close()


def test_a_tcp_socket_sends_at_once(tcp_pair: socket.socket) -> None:
    assert tcp_pair.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0  # the OS default
    no_delay(tcp_pair)
    assert tcp_pair.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_a_socket_that_is_not_tcp_is_left_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        no_delay(left)  # no error: AF_UNIX has no Nagle


@pytest.mark.parametrize("conf", ["mosquitto.conf.in", "mosquitto.docker.conf"])
def test_the_broker_sends_at_once_too(conf: str) -> None:
    lines = (REPO / "infra" / "mosquitto" / conf).read_text().splitlines()
    assert "set_tcp_nodelay true" in lines
