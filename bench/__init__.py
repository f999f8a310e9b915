"""Benchmarks: measured figures, printed, with baselines run in the same process (`vigil bench`).

    vigil bench ingest [--json] [--messages N] [--rounds R]
    vigil bench stream [--json] [--messages N] [--live-s S] [--patients-state N]
    vigil bench quality [--json] [--patients N] [--days D] [--seed S]   (no services needed)
    vigil bench ws [--json] [--clients C] [--events E] [--detections N] [--live-s S]

Not part of the shipped product: this package sits at the top of the source checkout, outside
the packages pyproject.toml installs, and `vigil bench` imports it from there. It drives the
product through its public functions only and is imported by nothing in it.

Public surface: `main` (the `vigil bench` command).
"""

from bench.cli import main

__all__ = ["main"]
