"""The patient summary's reads (CONVENTIONS 10): one patient's readings, alerts, tier-1
messages and follow-up records of the period, and the adherence of program.repository, as a
`ReportData` for reports.summary. Readings come as one array per metric (array_agg), so 90 days
of 5-minute CGM is one row, not 26,000.

The caller owns the transaction, checks that the caller may see the patient and writes the
audit row (api/routes/reports.py).

Must not: decide anything (reports.summary does) or write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from psycopg import AsyncConnection
from psycopg.rows import dict_row

from program import repository as program
from reports.agp import Glucose
from reports.summary import (
    DEFAULT_CGM_INTERVAL_S,
    AlertRow,
    BpSeries,
    FollowUpRow,
    MessageRow,
    Patient,
    ReportData,
    Series,
)

Conn = AsyncConnection[Any]
MAX_ROWS = 200  # alerts, messages, follow-up records listed (newest kept)
_FASTING = (
    "(r.context->>'meal' IN ('fasting', 'before_breakfast')"
    " OR r.context->'fasting' = 'true'::jsonb)"
)
_HEAD = (
    "SELECT p.id, p.display_name, p.tz, t.name AS team_name, s.name AS doctor_name,"
    " r.enrolled_on FROM patients p JOIN care_teams t ON t.id = p.team_id"
    " LEFT JOIN staff s ON s.id = p.responsible_doctor"
    " LEFT JOIN patient_records r ON r.patient_id = p.id WHERE p.id = %(p)s"
)
_SERIES = (
    "SELECT r.metric, array_agg(extract(epoch FROM r.time)::float8 ORDER BY r.time),"
    " array_agg(r.value ORDER BY r.time),"
    " array_agg(coalesce(d.kind = 'cgm', false) ORDER BY r.time),"
    f" array_agg(coalesce({_FASTING}, false) ORDER BY r.time)"
    " FROM readings r LEFT JOIN devices d ON d.id = r.device_id"
    " WHERE r.patient_id = %(p)s AND r.time >= %(since)s AND r.time < %(until)s"
    " AND r.metric IN ('glucose', 'weight', 'spo2', 'heart_rate') GROUP BY r.metric"
)
# A BP reading is the systolic and diastolic of one message (same device, seq and time).
_BP = (
    "SELECT array_agg(extract(epoch FROM s.time)::float8 ORDER BY s.time),"
    " array_agg(s.value ORDER BY s.time), array_agg(d.value ORDER BY s.time)"
    " FROM readings s JOIN readings d ON d.device_id = s.device_id AND d.seq = s.seq"
    " AND d.time = s.time AND d.metric = 'diastolic_bp'"
    " WHERE s.patient_id = %(p)s AND s.metric = 'systolic_bp'"
    " AND s.time >= %(since)s AND s.time < %(until)s"
)
_CGM_INTERVAL = (
    "SELECT min(d.expected_cadence_s) FROM device_bindings b JOIN devices d ON d.id = b.device_id"
    " WHERE b.patient_id = %(p)s AND d.kind = 'cgm' AND b.valid_from < %(until)s"
    " AND (b.valid_to IS NULL OR b.valid_to > %(since)s)"
)
_ALERTS = (
    "SELECT opened_at, rule_id, title, severity, tier, status, outcome, acknowledged_at,"
    " resolved_at FROM alerts WHERE patient_id = %(p)s AND opened_at >= %(since)s"
    " AND opened_at < %(until)s ORDER BY opened_at DESC LIMIT %(limit)s"
)
_MESSAGES = (
    "SELECT created_at, template, body, sent_at FROM patient_messages"
    " WHERE patient_id = %(p)s AND alert_id IS NOT NULL AND created_at >= %(since)s"
    " AND created_at < %(until)s ORDER BY created_at DESC LIMIT %(limit)s"
)
_FOLLOW_UPS = (
    "SELECT at, contact_type, outcome, symptoms, medication_changes, advice_given, note"
    " FROM follow_up_records WHERE patient_id = %(p)s AND at >= %(since)s AND at < %(until)s"
    " ORDER BY at DESC LIMIT %(limit)s"
)


async def _rows(conn: Conn, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql, params)
    return await cur.fetchall()


def _array(values: list[Any] | None, dtype: type = np.float64) -> np.ndarray:
    return np.asarray(values or [], dtype=dtype)


async def _series(conn: Conn, params: dict[str, Any]) -> dict[str, tuple[np.ndarray, ...]]:
    cur = await conn.execute(_SERIES, params)
    return {
        m: (_array(t), _array(v), _array(cgm, bool), _array(fasting, bool))
        for m, t, v, cgm, fasting in await cur.fetchall()
    }


async def _bp(conn: Conn, params: dict[str, Any]) -> BpSeries:
    row = await (await conn.execute(_BP, params)).fetchone()
    t, s, d = row if row else (None, None, None)
    return BpSeries(_array(t), _array(s), _array(d))


async def _cgm_interval_s(conn: Conn, params: dict[str, Any]) -> float:
    row = await (await conn.execute(_CGM_INTERVAL, params)).fetchone()
    return float(row[0]) if row and row[0] else DEFAULT_CGM_INTERVAL_S


def _plain(series: dict[str, tuple[np.ndarray, ...]], metric: str) -> Series:
    found = series.get(metric)
    return Series(found[0], found[1]) if found else Series.empty()


async def load(conn: Conn, patient_id: str, days: int, now: datetime) -> ReportData | None:
    """The period [now − days, now) of one patient (None if there is no such patient)."""
    head = await _rows(conn, _HEAD, {"p": patient_id})
    if not head:
        return None
    h = head[0]
    params = {"p": patient_id, "since": now - timedelta(days=days), "until": now,
              "limit": MAX_ROWS}  # fmt: skip
    series = await _series(conn, params)
    g = series.get("glucose") or (np.zeros(0),) * 2 + (np.zeros(0, bool),) * 2
    items, billing = await program.adherence(conn, patient_id, h["tz"], h["enrolled_on"], now)
    return ReportData(
        patient=Patient(h["id"], h["display_name"], h["tz"], h["team_name"], h["doctor_name"]),
        days=days,
        end=now,
        glucose=Glucose(*g),
        cgm_interval_s=await _cgm_interval_s(conn, params),
        bp=await _bp(conn, params),
        weight=_plain(series, "weight"),
        spo2=_plain(series, "spo2"),
        heart_rate=_plain(series, "heart_rate"),
        alerts=tuple(AlertRow(**r) for r in await _rows(conn, _ALERTS, params)),
        messages=tuple(MessageRow(**r) for r in await _rows(conn, _MESSAGES, params)),
        follow_ups=tuple(FollowUpRow(**r) for r in await _rows(conn, _FOLLOW_UPS, params)),
        adherence=tuple(items),
        billing=billing,
    )
