"""Stream processing: store readings and detect what matters, on either runner (DESIGN 4).

Public surface: `StreamPipeline` (pipeline.py), `ThresholdDetector` (detect.py), the rule table
(rules.py), `Detection` (detections.py), the readings sink `PgReadingStore` (sink.py), and the
two runners: `EmbeddedBus` (embedded.py) and the Faust app (faust_app.py).

Pure modules (no I/O library): detections, rules, detect, pipeline. Adapters: sink, embedded,
faust_app, repository, and tasks (the runners' background tasks: ticker, snapshots, overrides
watcher, health monitor).

Errors: psycopg errors from the sink are retriable (the batch is retried and nothing is
acknowledged until it succeeds); `ingest.bound.WireFormatError` is fatal for one record.
"""
