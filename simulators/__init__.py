"""Device simulators for the demo, the tests and the benchmarks (DESIGN 1: the test engineer).

Simulated patients (`fleet.py`, `profiles.py`, `physiology.py`, the CGM model in `glucose.py`)
publish over the device contract (`payloads.py`, `device.py`), follow scripted clinical
scenarios (`scenarios.py`) on a virtual clock (`runner.py`), and answer tier-1 prompts
(`inbox.py`). `quality_cohorts.py` (with the CGM sensor-error models of `_cgm_errors.py`) builds
the cohorts with ground truth that `vigil bench quality` replays and scores.

They speak the device contract (`ingest.contract`, plus the ingest's asyncio paho adapter) and
never import the stream, the alerts, the replay or the API, so a simulated device can only do
what a real one can.
"""
