"""`vigil.heap.settle`: what exists when start-up ends is exempt from the collector's later
passes (gc.freeze), and the collector itself stays on."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vigil import heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process keeps collecting as usual


@pytest.mark.usefixtures("unfrozen")
def test_settle_exempts_what_start_up_left() -> None:
    assert gc.get_freeze_count() == 0
    survivors = [[i] for i in range(1000)]  # tracked containers, alive after start-up
    exempt = heap.settle()
    assert exempt >= len(survivors)
    assert exempt == gc.get_freeze_count()
    assert gc.isenabled()
    assert gc.get_count()[2] == 0  # the oldest generation is empty: its passes scan nothing old
