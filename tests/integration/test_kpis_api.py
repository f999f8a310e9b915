"""Program KPIs over REST: the team's staff read them as JSON and CSV; another team's staff get
"not found", patients and devices are refused; a backwards period is a 422. In both storage
modes (TimescaleDB's continuous aggregate where the extension is installed)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.integration.conftest import Databases
from tests.integration.rest_world import api_client, seed

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]
V1 = "/api/v1"


@pytest.mark.parametrize("mode", ["plain", "timescaledb"])
async def test_kpis_for_the_teams_staff_only_as_json_and_csv(
    databases: Databases, tag: str, mode: str
) -> None:
    dsn = databases.create_in_mode(tag, mode)
    w = await seed(dsn, tag)
    team, other = w.teams[0].id, w.teams[1].id
    async with api_client(dsn) as c:
        for role in ("nurse", "doctor", "admin"):
            r = await c.get(f"{V1}/teams/{team}/kpis", headers=w.bearer(0, role))
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["team_id"], body["days"]) == (team, 30)
            assert body["patients"]["enrolled"] == 2 and body["patients"]["active"] == 1
            assert body["alerts"]["alerts"] == 1  # the crisis of rest_world
        for role, status in (("nurse", 404), ("admin", 404), ("patient", 403), ("device", 403),
                             ("none", 401)):  # fmt: skip
            r = await c.get(f"{V1}/teams/{other}/kpis", headers=w.bearer(0, role))
            assert r.status_code == status, (role, r.text)
            assert w.teams[1].names[0] not in r.text

        nurse = w.bearer(0, "nurse")
        for url in (f"{V1}/teams/{team}/kpis?format=csv&from=2026-01-01&to=2026-01-31",
                    f"{V1}/teams/{team}/kpis.csv?from=2026-01-01&to=2026-01-31"):  # fmt: skip
            r = await c.get(url, headers=nurse)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/csv")
            assert "attachment" in r.headers["content-disposition"]
            table = list(csv.reader(io.StringIO(r.text)))
            assert table[0] == ["figure", "value"]
            values = dict(table[1:])
            assert values["from"] == "2026-01-01" and values["days"] == "31"
            assert values["patients.enrolled"] == "0"  # enrolled today, not in January
            assert "response.by_tier.2.within_deadline.pct" in values

        # the world's crisis (critical: tier 3 at once), acknowledged by the doctor in time and
        # resolved as a false alarm: the figures follow the alert's real events
        alert = w.teams[0].alert_id
        doctor = w.bearer(0, "doctor")
        r = await c.post(f"{V1}/alerts/{alert}/acknowledge", json={}, headers=doctor)
        assert r.status_code == 200, r.text
        r = await c.post(f"{V1}/alerts/{alert}/resolve", json={"outcome": "false_alarm"},
                         headers=doctor)  # fmt: skip
        assert r.status_code == 200, r.text
        body = (await c.get(f"{V1}/teams/{team}/kpis", headers=nurse)).json()
        tier3 = body["response"]["by_tier"]["3"]
        assert tier3["acknowledged"] == 1 and tier3["within_deadline"]["n"] == 1
        assert tier3["within_deadline"]["of"] == 1
        assert body["alerts"]["false_alarm"] == {"n": 1, "of": 1, "pct": 100.0}
        assert body["alerts"]["by_tier"]["3"]["n"] == 1
        # its callback was cancelled with the alert: neither kept nor missed
        assert body["response"]["callbacks_within_deadline"]["of"] == 0

        for query in ("from=2026-02-01&to=2026-01-01", "to=0001-01-01", "to=9999-12-31",
                      "from=2026-01-01&to=2027-12-31"):  # fmt: skip
            r = await c.get(f"{V1}/teams/{team}/kpis?{query}", headers=nurse)
            assert r.status_code == 422, (query, r.text)
