"""The operator core with its state: one place both runners go through.

`StreamCore` owns the per-patient states through a `StateStore` (a dict in the embedded runner;
an in-memory cache in front of a changelog-backed Faust table in the worker) and the operator.
`process` and `tick` return an `Outcome` (detections, late readings) and remember which patients
changed, so the Faust runner can write back exactly those after the database write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from ingest.bound import BoundMessage
from stream.operator import Outcome, StreamOperator
from stream.state import PatientState


class StateStore(Protocol):
    def get(self, patient_id: str) -> PatientState | None: ...
    def put(self, state: PatientState) -> None: ...
    def all(self) -> Iterator[PatientState]: ...


class DictStore:
    """Embedded runner: states live in memory (rebuilt from the database at start: see runtime)."""

    def __init__(self) -> None:
        self._states: dict[str, PatientState] = {}

    def get(self, patient_id: str) -> PatientState | None:
        return self._states.get(patient_id)

    def put(self, state: PatientState) -> None:
        self._states[state.patient_id] = state

    def all(self) -> Iterator[PatientState]:
        return iter(list(self._states.values()))

    def __len__(self) -> int:
        return len(self._states)


class StreamCore:
    def __init__(self, operator: StreamOperator, store: StateStore | None = None) -> None:
        self.operator = operator
        self.store: StateStore = store if store is not None else DictStore()
        self.changed: set[str] = set()

    def process(self, batch: Sequence[BoundMessage], now: float) -> Outcome:
        out = Outcome()
        for bound in batch:
            state = self._state(bound.patient_id)
            self.operator.on_message(state, bound, out, now)
            self.changed.add(state.patient_id)
        return out

    def tick(self, now: float, patients: Iterable[PatientState] | None = None) -> Outcome:
        out = Outcome()
        for state in patients if patients is not None else self.store.all():
            before = len(out.detections)
            if self.operator.tick(state, now, out) or len(out.detections) > before:
                self.changed.add(state.patient_id)
        return out

    def take_changed(self) -> list[PatientState]:
        """The states changed since the last call (to persist after the database write)."""
        states = [s for p in self.changed if (s := self.store.get(p)) is not None]
        self.changed.clear()
        return states

    def mark_changed(self, states: Iterable[PatientState]) -> None:
        """Take states back as changed (their snapshot failed: save them next round)."""
        self.changed.update(s.patient_id for s in states)

    def _state(self, patient_id: str) -> PatientState:
        state = self.store.get(patient_id)
        if state is None:
            state = PatientState(patient_id)
            self.store.put(state)
        return state
