"""Stream processing: store readings and detect what matters, on either runner (DESIGN 4).

Pure modules (no I/O library, no clock: `now` comes from the runner):
- detections.py: `Detection`, what the stream emits (deterministic ids; `dangerous`, `late`);
- rules.py: the rule table, `RuleSet` and `DEFAULT_RULES`, assembled from rule_specs.py (the
  spec types), rule_thresholds.py (threshold limits), rule_patterns.py (trends, CGM forecasts,
  anomalies, NEWS2, silence) and rule_sources.py (the guidelines cited);
- overrides.py: per-patient, versioned threshold overrides (`OverrideIndex`);
- window.py: ring-buffer windows and the personal baseline; state.py: per-patient operator
  state and its serialisation; kalman.py: the CGM Kalman filter and its forecast; news2.py:
  NEWS2 scoring;
- evaluate.py: one evaluator per rule kind; operator.py: `StreamOperator`, event-time
  processing of readings into detections; core.py: `StreamCore`, the operator with its states;
- pipeline.py: `StreamPipeline`, one batch through detect-then-store (stores via protocols);
- health.py: the pipeline's own alarms (no data, lag, refusing database);
- offsets.py: every Faust record processed in offset order (`OffsetGuard`).

Adapters: sink.py (`PgReadingStore`, the batched readings sink), repository.py (overrides and
operator-state snapshots in PostgreSQL), embedded.py (`EmbeddedBus`, the in-process runner),
faust_app.py (the Faust runner, `build_app`) and tasks.py (the runners' background tasks:
ticker, snapshots, overrides watcher, health monitor).

Must not: import alerts, api, simulators or vigil. Errors: psycopg errors from the sink are
retriable (the batch is retried and nothing is acknowledged until it succeeds);
`ingest.bound.WireFormatError` is fatal for one record.
"""
