"""The clinician workspace's data (issue 10): what the pages and their REST endpoints read.

Public surface: `worklist.worklist`, `caseload.caseload`, `charts.chart`, `patient.overview`
(each takes the pool, the caller's principal, its filter and `now`, checks scope, audits the
PHI read and answers a model of `models`); `chart_core` is the pure chart arithmetic.
Must not: render HTML (api/web does) or hold SQL (api/queries does).
"""
