"""Discarding a broker session nobody will resume (`vigil services drop-session`), on the real
Mosquitto of infra/services.sh: the session and its queue are gone afterwards, and a login the
broker refuses is an error, never a silent no-op (the benches once "closed" sessions with a
login the broker refused, and two queues of 300,000 messages grew behind them)."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from bench.broker import open_session
from vigil.broker_sessions import SessionError, discard_session
from vigil.settings import Settings


def session_present(settings: Settings, client_id: str) -> bool:
    """Whether the broker still holds a session for `client_id` (resumed, then left as is)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                    protocol=mqtt.MQTTv311)  # fmt: skip
    c.username_pw_set(settings.mqtt.username, settings.mqtt.password.get_secret_value())
    answer: list[bool] = []
    done = threading.Event()

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        answer.append(bool(flags.session_present))
        done.set()

    c.on_connect = on_connect
    c.connect(settings.mqtt.host, settings.mqtt.port)
    c.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        c.disconnect()
        c.loop_stop()
    return answer[0]


def test_a_discarded_session_is_gone(settings: Settings, tag: str) -> None:
    client_id = f"vigil-stale-{tag}"
    open_session(settings, client_id)
    assert session_present(settings, client_id)  # the fixture holds: an offline session
    discard_session(settings, client_id)
    assert not session_present(settings, client_id)
    discard_session(settings, client_id)  # the resumed-and-left session of the check above


def test_a_refused_login_is_an_error(settings: Settings, tag: str) -> None:
    wrong = settings.model_copy(
        update={"mqtt": settings.mqtt.model_copy(update={"password": SecretStr("wrong")})}
    )
    with pytest.raises(SessionError, match="not discarded"):
        discard_session(wrong, f"vigil-stale-{tag}")
