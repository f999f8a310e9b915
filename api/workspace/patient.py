"""The patient page's data (issue 10, part 4): the header, the alert history with outcomes, the
tier-1 messages sent to the patient with their delivery state, and the silences in force or to
come. Another team's patient is "not found" (api.access). Audited as one PHI read.

Must not: hold SQL (api.queries.*) or render.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from alerts.delivery import NO_BOUND_DEVICE
from alerts.silences import list_silences
from api.access import STAFF, allow
from api.auth import Principal
from api.errors import NotFoundError
from api.queries import audit
from api.queries import patient_page as q
from api.routes._common import visible_patient
from api.schemas import Silence
from api.workspace.models import AlertHistoryRow, PatientHeader, PatientMessage, PatientOverview

HISTORY = 100  # alerts and messages shown, newest first


def delivery(row: dict[str, Any]) -> str:
    """A tier-1 message's delivery state, in words the page translates."""
    if row["sent_at"] is not None:
        return "sent"
    if row["last_error"] == NO_BOUND_DEVICE:
        return "waiting_for_device"
    return "retrying" if row["failures"] else "pending"


async def overview(
    pool: AsyncConnectionPool, caller: Principal, patient_id: str, now: datetime
) -> PatientOverview:
    allow(caller, STAFF)
    async with pool.connection() as conn, conn.transaction():
        await visible_patient(conn, caller, patient_id)
        header = await q.header(conn, patient_id)
        if header is None:
            raise NotFoundError(f"no patient {patient_id}")
        alerts = await q.alert_history(conn, patient_id, HISTORY)
        messages = await q.messages(conn, patient_id, HISTORY)
        silences = await list_silences(conn, patient_id, now)
        await audit.record(conn, caller, now, "read", "patient_page", [patient_id])
    return PatientOverview(
        patient=PatientHeader.model_validate(header),
        alerts=[AlertHistoryRow.model_validate(a) for a in alerts],
        messages=[PatientMessage.model_validate({**m, "delivery": delivery(m)}) for m in messages],
        silences=[Silence.model_validate(s) for s in silences],
    )
