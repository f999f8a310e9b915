"""Ingest: MQTT in, device contract, binding to patients, durable hand-off (DESIGN 2-3).

Public surface:
- `ingest.contract`: the device contract v1 (pure; shared with the simulators);
- `IngestService` (service.py): decode, bind, hand on, store rejections, compute acks;
- `BoundMessage` and its bus wire format (bound.py);
- adapters: `MqttReceiver` (mqtt.py, paho), `KafkaHandoff` (kafka.py, aiokafka),
  PostgreSQL repositories (repository.py), device credentials in the broker (dynsec.py);
- `start_ingest` (startup.py): the start-up order (bindings, acks read back, receiver, loop).

Errors: the contract never raises (it returns rejections). Adapters raise
`ingest.mqtt.MqttError` (fatal: the broker refused us), `ingest.bound.WireFormatError` (fatal for
one bus record), and let psycopg/aiokafka errors through as retriable: the batch is not
acknowledged and is retried.
"""
