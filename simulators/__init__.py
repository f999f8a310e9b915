"""Device simulators for the demo, the tests and the benchmarks (DESIGN 1: the test engineer).

Simulated patients (`fleet.py`, `profiles.py`, `physiology.py`, the CGM model in `glucose.py`)
publish over the device contract (`payloads.py`, `device.py`), follow scripted clinical
scenarios (`scenarios.py`) on a virtual clock (`runner.py`), and answer tier-1 prompts
(`inbox.py`). `cohorts.py` builds the labelled cohorts `vigil bench quality` scores detectors on.

They speak the device contract (`ingest.contract`, plus the ingest's asyncio paho adapter and its
bound-message record for the cohorts) and never import the stream, the alerts or the API, so a
simulated device can only do what a real one can.
"""
