"""The quality cohorts: the sensor-error models have the statistics they claim, artefacts sit
where they should, the SpO2 wearers have both artefacts and real desaturations, and every draw is
seeded."""

from __future__ import annotations

import numpy as np
import pytest

from simulators._cgm_errors import ErrorModel, ar2_unit, johnson_su
from simulators.quality_cohorts import (
    MIN_S,
    Physiology,
    cgm_from_truth,
    cgm_patient,
    spo2_patient,
    true_glucose,
)


def lag1(x: np.ndarray) -> float:
    e = x - x.mean()
    return float(np.sum(e[1:] * e[:-1]) / np.sum(e * e))


def errors(model: ErrorModel, n: int = 6, days: float = 2.0) -> list[np.ndarray]:
    """Sensor minus interstitial-free truth per patient, on the 5-min grid (drops skipped)."""
    out = []
    for i in range(n):
        p = cgm_patient(Physiology.STANDARD, model, i, days, seed=4)
        out.append(np.array([s.value - s.true_value for s in p.samples]))
    return out


def test_the_correlated_model_is_serially_correlated_with_a_realistic_spread() -> None:
    e = johnson_su(ar2_unit(np.random.default_rng(7), 50_000))
    assert lag1(e) >= 0.8  # Breton & Kovatchev 2008, Facchinetti et al. 2014: ~0.9 at 5 min
    assert 9.0 <= float(e.std()) <= 14.0  # Breton & Kovatchev: SD 11 mg/dL
    assert -1.0 <= float(e.mean()) <= 2.5  # ... mean 0.76 mg/dL
    assert float(((e - e.mean()) ** 3).mean()) > 0  # Johnson SU here: skewed to the right


def test_the_correlated_model_keeps_its_correlation_in_a_patient_s_readings() -> None:
    # against plasma glucose the lag adds a little; the noise dominates
    assert np.median([lag1(e) for e in errors(ErrorModel.CORRELATED)]) >= 0.8
    assert np.median([lag1(e) for e in errors(ErrorModel.WHITE)]) < 0.5


def test_white_noise_has_its_sd_and_no_memory() -> None:
    e = np.concatenate(errors(ErrorModel.WHITE))
    assert 7.0 <= float(e.std()) <= 11.0  # 8 mg/dL plus the interstitial lag's share


def test_the_drift_model_has_dropouts_with_no_readings_inside() -> None:
    gaps = []
    for i in range(6):
        p = cgm_patient(Physiology.STANDARD, ErrorModel.DRIFT, i, 2.0, seed=4)
        assert p.sensor is not None
        times = np.array([s.t_s for s in p.samples])
        for start, end in p.sensor.dropouts:
            assert not np.any((times >= start) & (times < end))
            assert 600.0 <= end - start <= 7200.0
        gaps += p.sensor.dropouts
    assert len(gaps) >= 6  # ~1 a day


def test_compressions_are_nocturnal_and_only_where_true_glucose_is_flat() -> None:
    found = 0
    for i in range(10):
        p = cgm_patient(Physiology.NOCTURNAL, ErrorModel.DRIFT, i, 3.0, seed=2)
        assert p.sensor is not None
        for start, end, depth in p.sensor.compressions:
            found += 1
            assert (start % 86_400.0) / 3600.0 >= 0.0 and (end % 86_400.0) / 3600.0 <= 6.0
            assert 20.0 <= depth <= 60.0 and 600.0 <= end - start <= 3600.0
            window = p.true_per_min[int(start // MIN_S) : int(end // MIN_S) + 1]
            assert float(window.max() - window.min()) < 15.0  # truth is flat: a false low
            inside = [
                s
                for s in p.samples
                if start + 0.2 * (end - start) <= s.t_s <= start + 0.7 * (end - start)
            ]
            assert all(s.value < s.true_value for s in inside)
    assert found >= 5


def test_the_physiologies_differ_and_the_nocturnal_one_has_more_night_lows() -> None:
    def night_low_minutes(phys: Physiology) -> int:
        total = 0
        for i in range(8):
            g, _ = true_glucose(phys, i, 2.0, seed=1)
            hour = (np.arange(len(g)) * MIN_S / 3600.0) % 24
            total += int(np.sum((g < 70.0) & (hour < 7.0)))
        return total

    assert night_low_minutes(Physiology.NOCTURNAL) > 2 * night_low_minutes(Physiology.STANDARD)


@pytest.mark.parametrize("model", list(ErrorModel))
def test_cgm_cohorts_are_seeded_and_the_truth_is_shared_across_error_models(
    model: ErrorModel,
) -> None:
    a = cgm_patient(Physiology.STANDARD, model, 3, 1.0, seed=9)
    b = cgm_patient(Physiology.STANDARD, model, 3, 1.0, seed=9)
    c = cgm_patient(Physiology.STANDARD, model, 3, 1.0, seed=10)
    assert a.samples == b.samples and a.samples != c.samples
    g, lag = true_glucose(Physiology.STANDARD, 3, 1.0, seed=9)
    assert np.array_equal(a.true_per_min, g)
    assert cgm_from_truth(g, lag, Physiology.STANDARD, model, 3, 9).samples == a.samples


def test_spo2_wearers_have_artefacts_and_real_desaturations() -> None:
    artefacts = brief = sustained = 0
    for i in range(9):
        p = spo2_patient(i, 2.0, seed=3)
        assert p.samples == spo2_patient(i, 2.0, seed=3).samples
        true = p.true_per_min
        values = np.array([s.value for s in p.samples])
        artefacts += int(np.sum((values <= true - 5.0) & (true > 93.0)))
        below = np.concatenate(([0], (true < 90.0).astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(below))
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            brief += 2 <= end - start <= 15
            sustained += bool(end - start >= 20 and true[start:end].min() <= 88.0)
    assert artefacts >= 30  # ~6 a day, of 1-3 readings
    assert brief >= 3 and sustained >= 2
