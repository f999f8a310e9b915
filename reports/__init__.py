"""Reports and interoperability (DESIGN 11): what leaves Vigil for people and other systems.

This room sits beside the API, downstream of every domain: it may read `ingest`, `stream`,
`alerts` and `program`; only `api` (and the composition root, and the benches) import it. It
computes figures from stored data and renders them; it never decides clinical actions and never
writes readings or alerts.

The patient summary (issue 13, part 1), today:

- `summary.py` (pure): `ReportData` in, `summarise(data) -> Summary` out, with the figures of
  `agp.py` (consensus AGP: time in ranges, GMI, CV, sensor wear, the modal-day percentiles,
  daily profiles; meter readings by time of day and the fasting mean), `bp.py` (ESH 2021 home
  BP: morning and evening means, share below 135/85, day 1 discarded) and `vitals.py` (weight
  with the stream's heart-failure rule, SpO2, heart rate); `stats.py`, `_clock.py` (local time
  of day, vectorised) and `_format.py` help them;
- `summary_queries.py` (adapter, SQL): `load(conn, patient_id, days, now) -> ReportData`;
- `render.py`: `report_html(summary, lang, rule_title, css_href)` (Jinja2,
  `templates/report.html` and `report.css`, charts from `charts.py`: matplotlib's Agg canvas,
  PNG data URIs, imported lazily) and `report_pdf(html)` (WeasyPrint, A4);
- `i18n.py` with `i18n/en.json` and `i18n/zh.json`: the report's own catalogs.

Program KPIs (part 2): `kpis` (pure: Period, Kpis, compute, to_csv) and `kpi_queries` (SQL:
refresh, ensure_fresh, refresh_loop, team_kpis, read) over the daily aggregate of migration 0011.

FHIR R4 (part 3): `fhir_codes`, `fhir`, `fhir_search` and `fhir_inbound` (pure: the LOINC/UCUM
table, resources, search parameters, posted Observations into the device contract),
`fhir_store` (SQL) and `fhir_bulk` (export jobs, NDJSON files under the state directory).

Operators' metrics (part 4): the metric definitions live in `ingest.metrics` (the lowest room
that counts); here only the figures read from the database at scrape time, `metrics`
(`StoredFigures`, cached, single-flight) with its SQL in `metrics_queries`.
"""
