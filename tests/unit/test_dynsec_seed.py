"""infra/mosquitto/dynsec_seed.py: the broker's account file rendered before each start keeps
the devices the broker wrote, re-keys the service accounts, imports a legacy password file once
(client ids pinned), and leaves every topic decision to the ACL file."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType

from tests.conftest import REPO


def seed_module() -> ModuleType:
    path = REPO / "infra" / "mosquitto" / "dynsec_seed.py"
    spec = importlib.util.spec_from_file_location("dynsec_seed", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def verifies(client: dict[str, object], password: str) -> bool:
    salt = base64.b64decode(str(client["salt"]))
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(str(client["iterations"])))
    return base64.b64encode(digest).decode() == client["password"]


def test_services_are_rekeyed_devices_kept_and_defaults_deny(tmp_path: Path) -> None:
    seed = seed_module()
    path = tmp_path / "dynamic-security.json"
    device = {"username": "bp-1", "clientid": "bp-1", "roles": [], "password": "x", "salt": "y",
              "iterations": 101}  # fmt: skip
    old_service = {"username": "svc-ingest", "password": "old", "salt": "old", "iterations": 1}
    path.write_text(json.dumps({"clients": [old_service, device], "roles": []}))
    doc = seed.render(path, {"svc-ingest": "new-ingest", "svc-provision": "admin"})
    clients = {c["username"]: c for c in doc["clients"]}
    assert clients["bp-1"] == device
    assert verifies(clients["svc-ingest"], "new-ingest") and clients["svc-ingest"]["roles"] == []
    assert clients["svc-provision"]["roles"] == [{"rolename": "broker-admin"}]
    assert {r["rolename"] for r in doc["roles"]} == {"broker-admin"}
    assert not any(v for k, v in doc["defaultACLAccess"].items() if k != "unsubscribe")


def test_a_legacy_password_file_is_imported_with_pinned_client_ids(tmp_path: Path) -> None:
    seed = seed_module()
    salt = b"0123456789ab"
    digest = hashlib.pbkdf2_hmac("sha512", b"pw", salt, 101)
    b64 = base64.b64encode
    (tmp_path / "passwd").write_text(
        f"svc-ingest:$7$101${b64(salt).decode()}${b64(digest).decode()}\n"
        f"cgm-9:$7$101${b64(salt).decode()}${b64(digest).decode()}\n"
        "broken-line\n"
    )
    doc = seed.render(tmp_path / "dynamic-security.json", {"svc-ingest": "s"})
    imported = [c for c in doc["clients"] if c["username"] == "cgm-9"]
    assert len(imported) == 1 and imported[0]["clientid"] == "cgm-9"
    assert verifies(imported[0], "pw")
    assert [c["username"] for c in doc["clients"]].count("svc-ingest") == 1
