"""Test-wide configuration: where the private services keep their state."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The integration tests use the instances `infra/services.sh` starts (the same ones `bin/vigil`
# uses); unit tests never touch them.
os.environ.setdefault("VIGIL_STATE_DIR", str(REPO / ".vigil"))
