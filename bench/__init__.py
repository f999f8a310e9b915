"""Benchmarks: measured figures, printed, with baselines run in the same process (`vigil bench`).

    vigil bench ingest [--json] [--messages N] [--rounds R]
    vigil bench stream [--json] [--messages N] [--live-s S] [--patients-state N]
    vigil bench quality [--patients N] [--days D] [--seeds 1,2,3] [--models white,...] [--no-spo2]
                        [--sweep NAME --values a,b,c]   (no services needed; ends with JSON)
    vigil bench ws [--json] [--clients C] [--events E] [--detections N] [--live-s S]

Not part of the shipped product: this package sits at the top of the source checkout, outside
the packages pyproject.toml installs, and `vigil bench` imports it from there. It drives the
product through its public functions and processes only, and nothing in the product imports it.

- cli: the flags and which bench runs (`main`, the `vigil bench` command);
- ingest, stream, ws, quality: one bench each, with the figures it reports (quality: through
  the replay, scored by `_scoring`, next to the reference detectors of `_references`);
- database: the bench database (`bench_database`, `enrolled`) and the measurements read from it;
- traffic, broker, live, processes, state: device traffic, MQTT sessions, live load, the
  product's processes and the operator's state size, shared by the benches.

Public surface: `main`; `bench.database.bench_database`; `bench.broker.close_session` (the
integration tests discard an ingest's persistent session with it); `bench.quality.run`,
`QualitySettings`, `medians`, `targets`, `sweep` and `SWEEPS` (for tuning detectors).
"""

from bench.cli import main

__all__ = ["main"]
