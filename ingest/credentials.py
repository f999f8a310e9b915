"""Per-device MQTT credentials in Mosquitto's password file (username = device id).

Mosquitto 2 reads `user:$7$<iterations>$<salt>$<hash>` lines, PBKDF2-HMAC-SHA512 with a 12-byte
salt (what `mosquitto_passwd` writes), and re-reads the file on SIGHUP. `upsert_passwords`
rewrites the file atomically with the given entries added or replaced, keeping every other line
(service accounts written by infra/services.sh) and the file's owner and mode, then `reload`
signals the broker and `wait_until_accepted` waits until the broker has re-read the file. Plain
passwords are never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    _, kind, iterations, salt, digest = encoded.split("$")
    if kind != "7":
        return False
    raw_salt = base64.b64decode(salt)
    calc = hashlib.pbkdf2_hmac("sha512", password.encode(), raw_salt, int(iterations))
    return calc == base64.b64decode(digest)


def upsert_passwords(path: Path, passwords: Mapping[str, str]) -> list[str]:
    """Add or replace entries (username -> plain password); return the usernames changed."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    entries: dict[str, str] = {}
    for line in lines:
        user, sep, encoded = line.partition(":")
        if sep:
            entries[user] = encoded
    changed: list[str] = []
    for user, password in passwords.items():
        if ":" in user or "\n" in user or user.startswith("svc-"):
            raise ValueError(f"invalid or reserved device username {user!r}")
        current = entries.get(user)
        if current is None or not verify_password(password, current):
            entries[user] = hash_password(password)
            changed.append(user)
    if changed:
        _write_atomically(path, "".join(f"{u}:{e}\n" for u, e in entries.items()))
    return changed


def _write_atomically(path: Path, text: str) -> None:
    st = path.stat() if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".passwd-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        if st is not None and os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)  # mosquitto reads it after dropping root
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def reload_broker(pid_file: Path) -> None:
    """Ask Mosquitto to re-read its password file and ACL (SIGHUP)."""
    os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)


def wait_until_accepted(
    host: str, port: int, username: str, password: str, timeout_s: float = 30.0
) -> None:
    """Block until the broker accepts these credentials. After `reload_broker`, Mosquitto
    re-reads the password file on its next loop iteration: a millisecond on an idle machine,
    seconds on a loaded one (a fixed half-second wait let devices be refused). The file is read
    whole, so one entry of a write stands for all of them."""
    deadline = time.monotonic() + timeout_s
    while not _accepted(host, port, username, password):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker still refuses {username!r} after {timeout_s} s")
        time.sleep(0.05)


def _accepted(host: str, port: int, username: str, password: str) -> bool:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    reasons: list[ReasonCode] = []
    client.on_connect = lambda c, userdata, flags, reason, props: reasons.append(reason)
    client.connect(host, port, keepalive=10)
    try:
        deadline = time.monotonic() + 10.0
        while not reasons and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break  # the broker closed the connection (after its CONNACK, if refused)
    finally:
        client.disconnect()
    return bool(reasons) and not reasons[0].is_failure
