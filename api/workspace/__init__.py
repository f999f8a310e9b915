"""The clinician workspace's data (issue 10): what the pages and their REST endpoints read.

Public surface: `worklist.worklist`, `caseload.caseload`, `charts.chart` and `charts.many`,
`patient.overview`, `roster.team_roster` and `roster.my_rosters` (each takes the pool, the
caller's principal, its filter or ids and `now`; checks scope, another team's patient being
"not found"; audits the PHI read; answers a model of `models`, or for the worklist its rows as
the query's typed columns); `chart_core` is the pure chart arithmetic; `kpis.my_team_kpis` (a
team's program KPIs, aggregates without PHI: not audited).
Must not: render HTML (api/web does) or hold SQL (api/queries does).
"""
