"""Per-device MQTT credentials in Mosquitto's password file (username = device id).

Mosquitto 2 reads `user:$7$<iterations>$<salt>$<hash>` lines, PBKDF2-HMAC-SHA512 with a 12-byte
salt (what `mosquitto_passwd` writes), and re-reads the file on SIGHUP. `upsert_passwords`
rewrites the file atomically with the given entries added or replaced, keeping every other line
(service accounts written by infra/services.sh) and the file's owner and mode, then `reload`
signals the broker. Plain passwords are never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path

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


def upsert_passwords(path: Path, passwords: Mapping[str, str]) -> int:
    """Add or replace entries (username -> plain password); return how many changed."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    entries: dict[str, str] = {}
    for line in lines:
        user, sep, encoded = line.partition(":")
        if sep:
            entries[user] = encoded
    changed = 0
    for user, password in passwords.items():
        if ":" in user or "\n" in user or user.startswith("svc-"):
            raise ValueError(f"invalid or reserved device username {user!r}")
        current = entries.get(user)
        if current is None or not verify_password(password, current):
            entries[user] = hash_password(password)
            changed += 1
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
