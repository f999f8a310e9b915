"""Device passwords of the simulated cohort and the settings object."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simulators.fleet import cohort, device_password
from vigil.settings import Settings


def test_device_passwords_are_derived_per_device() -> None:
    assert device_password("k", "a") == device_password("k", "a")
    assert device_password("k", "a") != device_password("k", "b")
    with pytest.raises(ValueError, match="secret"):
        device_password("", "a")


def test_the_cohort_is_deterministic() -> None:
    assert cohort(10, seed=3) == cohort(10, seed=3)
    kits = {d.profile.kind for p in cohort(15) for d in p.devices}
    assert {"bp_cuff", "wearable", "cgm", "glucometer", "scale"} <= kits


def test_settings_read_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MQTT__PORT", "1884")
    monkeypatch.setenv("VIGIL_DB__PASSWORD", "ignored-unknown-key")
    s = Settings()
    assert s.mqtt.port == 1884


def test_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MQTT__PORT", "0")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("VIGIL_MQTT__PORT", "1883")
    monkeypatch.setenv("VIGIL_DB__POOL_MIN", "9")
    with pytest.raises(ValidationError, match="pool_min"):
        Settings()


def test_api_tls_certificate_and_key_come_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_API__TLS_CERTFILE", "/etc/vigil/api.crt")
    with pytest.raises(ValidationError, match="set together"):
        Settings()
    monkeypatch.setenv("VIGIL_API__TLS_KEYFILE", "/etc/vigil/api.key")
    assert Settings().api.base_url == "https://127.0.0.1:8700"
