"""Ingest: MQTT in, device contract, binding to patients, durable hand-off (DESIGN 2-3).

Public surface:
- `ingest.contract`: the device contract v1 (pure; shared with the simulators);
- `IngestService` (service.py): decode, bind, hand on, store rejections, compute acks;
- `BoundMessage` and its bus wire format (bound.py);
- `isolating`, `quarantined`, `seq_reused` (quarantine.py): a failing write bisected down to
  the messages that fail, and their `rejected_readings` records (issue 14);
- adapters: `MqttReceiver` (mqtt.py, paho), `KafkaHandoff` (kafka.py, aiokafka),
  PostgreSQL repositories (repository.py: bindings, rejections and their retention, technical
  alarms, `PgHandledSeqs` the database's truth for device acks), device credentials in the
  broker (dynsec.py);
- `start_ingest` (startup.py): the start-up order (bindings, acks read back, receiver, loop);
- `Metrics` (metrics.py): one process's Prometheus registry and every family's definition, for
  all rooms (the lowest room that counts; issue 13); `serve`, the exporter of processes
  without HTTP;
- `JsonFormatter`, `ref`, `refs`, `loggable` (logs.py): JSON-lines logs and the pseudonyms log
  lines use instead of device and patient ids.

Errors: the contract never raises (it returns rejections). Adapters raise
`ingest.mqtt.MqttError` (fatal: the broker refused us), `ingest.bound.WireFormatError` (fatal for
one bus record), and let psycopg/aiokafka errors through as retriable: the batch is not
acknowledged and is retried. Any other error from the hand-off is isolated to the messages that
cause it, which are quarantined (`unstorable`); the rest of the batch goes on.
"""
