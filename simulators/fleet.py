"""The simulated cohort: patients, their devices, and the devices' MQTT credentials.

Deterministic from (patients, seed): the same arguments always give the same ids, kits, units and
physiology, so a demo, a test and a benchmark can be re-run exactly. Device passwords derive from
a secret (HMAC-SHA256) so that enrolment and the simulator agree without a credentials file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
from dataclasses import dataclass

from simulators.profiles import PROFILES, DeviceProfile, Kind


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    patient_id: str
    profile: DeviceProfile
    units: tuple[str, ...]  # the unit this device reports each of its metrics in


@dataclass(frozen=True, slots=True)
class SimPatient:
    patient_id: str
    index: int
    team_id: str
    devices: tuple[SimDevice, ...]


def device_password(secret: str, device_id: str) -> str:
    if not secret:
        raise ValueError("the simulator secret is empty (run: vigil services up)")
    mac = hmac.new(secret.encode(), device_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:32]


def _kit(index: int) -> tuple[Kind, ...]:
    """Everyone has a cuff and a wearable; a third wear a CGM, a third use a meter; 1 in 5 weigh."""
    kinds = [Kind.BP_CUFF, Kind.WEARABLE]
    kinds += [[Kind.CGM], [Kind.GLUCOMETER], []][index % 3]
    if index % 5 == 0:
        kinds.append(Kind.SCALE)
    return tuple(kinds)


def cohort(patients: int, seed: int = 1, teams: int = 2, prefix: str = "sim") -> list[SimPatient]:
    rng = random.Random(seed)
    out = []
    for i in range(patients):
        patient_id = f"{prefix}-p{i:04d}"
        devices = []
        for kind in _kit(i):
            profile = PROFILES[kind]
            units = tuple(rng.choice(profile.unit_choices[m]) for m in profile.metrics)
            devices.append(SimDevice(f"{patient_id}-{profile.suffix}", patient_id, profile, units))
        out.append(SimPatient(patient_id, i, f"{prefix}-team-{i % teams}", tuple(devices)))
    return out
