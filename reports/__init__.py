"""Reports and interoperability (DESIGN 11): what leaves Vigil for people and other systems.

This room sits beside the API, downstream of every domain: it may read `ingest`, `stream`,
`alerts` and `program`; only `api` (and the composition root) import it. It computes figures
from stored data and renders them; it never decides clinical actions and never writes readings
or alerts.

Planned modules, each a pure core with an adapter for its queries (CONVENTIONS 1, 10):

- `summary.py` (pure) and `render.py`: the patient summary — AGP for glucose (time in ranges,
  GMI, CV, the modal-day percentiles), ESH home-BP means, weight, SpO2 and heart rate — as HTML
  and PDF in English and Chinese.
- `kpis.py` (pure) and `kpi_queries.py` (adapter): program KPIs per team and period (active
  patients, adherence, control rates, alert burden, response times against tier deadlines,
  follow-up coverage) from SQL aggregates that give the same numbers in both storage modes.
- `fhir.py` (pure): FHIR R4 Patient, Device, Observation (LOINC, UCUM) and Flag resources, and
  the reverse mapping of posted Observations into the device contract's checks.
- `metrics.py`: Prometheus metrics of the pipeline, without PHI in any label.

Public so far: `kpis` (Period, Kpis, compute, to_csv) and `kpi_queries` (refresh,
ensure_fresh, refresh_loop, team_kpis, read).
"""
