"""The fault harness in reduced form (issue 14, item 8): `vigil bench faults`' own scenarios, on
the test's database, with a small load. `vigil run` runs as a real process; the devices resend
what is not acknowledged end to end; alarm meters send 45 mg/dL throughout.

- poison: a `context` nested 1,000 levels among valid traffic is quarantined and the pipeline
  keeps storing;
- kill: kill -9 of `vigil run` under load, restarted at once: end-to-end acks resume within 5 s.

In both: nothing acknowledged end to end is lost, nothing is stored twice, everything sent is
stored and acknowledged, and each alarm patient's level-2 hypoglycaemia is alerted exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bench.database import Bench
from bench.fault_load import LoadPlan
from bench.faults import ALARM_PATIENTS, LOAD_PATIENTS, run_scenario
from simulators.fleet import cohort
from vigil.demo import enrol_demo
from vigil.settings import Settings

pytestmark = pytest.mark.asyncio

PLAN = LoadPlan(rate=50.0, messages=400, alarm_every_s=1.0, drain_s=60.0)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("scenario", ["poison", "kill"])
async def test_the_pipeline_survives_the_fault_and_loses_nothing(
    settings: Settings, dsn: str, tag: str, tmp_path: Path, scenario: str
) -> None:
    patients = LOAD_PATIENTS + ALARM_PATIENTS
    await enrol_demo(settings, patients=patients, seed=1, prefix=tag, dsn=dsn, program=False)
    db = settings.db.model_copy(update={"dsn": SecretStr(dsn)})
    bench = Bench(settings.model_copy(update={"db": db}), dsn, "plain",
                  cohort(patients, 1, prefix=tag))  # fmt: skip

    r = await run_scenario(bench, scenario, PLAN, tmp_path, fault_at_s=2.0)

    assert r["sent"] > PLAN.messages  # the load and the alarm meters
    assert (r["lost"], r["duplicates"], r["unstored"]) == (0, 0, 0), r
    assert r["e2e_acked"] == r["stored"] == r["sent"], r
    assert r["alerts_expected"] >= 2, r
    assert r["alerts_opened"] == r["alerts_expected"] and r["alerts_exactly_once"], r
    assert r["alive"], r
    if scenario == "kill":
        assert r["recovery_s"] is not None and r["recovery_s"] <= 5.0, r
    else:
        assert r["quarantined"] == {"bad_context": 1}, r
