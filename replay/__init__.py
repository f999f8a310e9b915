"""Replay: a recorded dataset through the same detectors and escalation, in simulated time
(issue 12; `vigil replay FILE`, and `vigil bench quality` on simulated cohorts).

- records.py: the input (JSONL readings, the optional device mapping) and the device messages
  built from it (`read_jsonl`, `read_devices`, `Reading`, `Device`, `ReplayInputError`);
- engine.py: `replay(readings, settings, devices)` -> `Episode`s, with `ReplaySettings` (the
  detectors as an operator factory, the escalation policy, the simulated patient's answers
  `AnswerModel` and staff `StaffModel`).

Pure apart from reading what it is given: no database, no clock, no network. Downstream of the
alerts (it runs `stream` and `alerts` together, as the runners do); must not import api, vigil,
bench or the simulators. Errors: `ReplayInputError` (fatal for the replay: an unreadable line).
"""

from replay.engine import AnswerModel, Episode, ReplaySettings, StaffModel, replay, to_jsonl
from replay.records import Device, Reading, ReplayInputError, read_devices, read_jsonl

__all__ = [
    "AnswerModel",
    "Device",
    "Episode",
    "Reading",
    "ReplayInputError",
    "ReplaySettings",
    "StaffModel",
    "read_devices",
    "read_jsonl",
    "replay",
    "to_jsonl",
]
