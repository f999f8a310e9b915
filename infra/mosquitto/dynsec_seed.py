"""Render the dynamic-security plugin's state file before Mosquitto starts (stdlib only).

Run by infra/services.sh while the broker is stopped, with the service passwords on stdin
(`name=password` lines, never on a command line). It writes the plugin's state file
(`<state>/mosquitto/dynamic-security.json`):

- the service accounts (`svc-*`) with their current passwords: `svc-ingest` (the ingest, its
  downlink and its start-up ack reader; topics from the ACL file) and `svc-provision` (the
  broker-admin account the API uses to provision devices through `$CONTROL/dynamic-security`);
- the `broker-admin` role, which may use the control topic and nothing else;
- default ACL access all denied, so that every device and service is authorised by the ACL file
  (its `%u` patterns: the plugin of Mosquitto 2.0 does not substitute `%u`);
- every device client already in the file, unchanged (the broker writes them when the API
  provisions a device). Device entries of a pre-dynsec `passwd` file are imported once, with
  their client id pinned to their username, and the file renamed `passwd.imported`.

It must not invent device credentials or touch a running broker's file (the broker rewrites it
on every change and would lose what was written behind its back).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

ITERATIONS = 101  # what Mosquitto itself uses for new passwords
ADMIN_ROLE = {
    "rolename": "broker-admin",
    "acls": [
        {"acltype": t, "topic": "$CONTROL/dynamic-security/#", "allow": True}
        for t in (
            "publishClientSend",
            "publishClientReceive",
            "subscribePattern",
            "unsubscribePattern",
        )
    ],
}
DENY_BY_DEFAULT = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


def hashed(password: str) -> dict[str, object]:
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
    }


def service_clients(passwords: dict[str, str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name, password in sorted(passwords.items()):
        roles = [{"rolename": "broker-admin"}] if name == "svc-provision" else []
        out.append(
            {
                "username": name,
                "textname": "Vigil service account",
                "roles": roles,
                **hashed(password),
            }
        )
    return out


def imported_devices(passwd: Path) -> list[dict[str, object]]:
    """Device entries of a legacy password file (same PBKDF2-SHA512 hash, other encoding)."""
    out: list[dict[str, object]] = []
    for line in passwd.read_text(encoding="utf-8").splitlines():
        user, _, encoded = line.partition(":")
        parts = encoded.split("$")
        if user.startswith("svc-") or len(parts) != 5 or parts[1] != "7":
            continue
        out.append(
            {
                "username": user,
                "clientid": user,
                "roles": [],
                "password": parts[4],
                "salt": parts[3],
                "iterations": int(parts[2]),
            }
        )
    return out


def render(path: Path, passwords: dict[str, str]) -> dict[str, object]:
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    devices = [c for c in old.get("clients", []) if not c["username"].startswith("svc-")]
    legacy = path.parent / "passwd"
    if legacy.exists():
        known = {c["username"] for c in devices}
        devices += [c for c in imported_devices(legacy) if c["username"] not in known]
    roles = [r for r in old.get("roles", []) if r["rolename"] != ADMIN_ROLE["rolename"]]
    return {
        "clients": service_clients(passwords) + devices,
        "groups": old.get("groups", []),
        "roles": [ADMIN_ROLE, *roles],
        "defaultACLAccess": DENY_BY_DEFAULT,
    }


def main() -> None:
    path = Path(sys.argv[1])
    passwords = dict(line.split("=", 1) for line in sys.stdin.read().split() if "=" in line)
    doc = render(path, passwords)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dynsec-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    legacy = path.parent / "passwd"
    if legacy.exists():
        legacy.rename(path.parent / "passwd.imported")


if __name__ == "__main__":
    main()
