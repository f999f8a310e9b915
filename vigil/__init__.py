"""Vigil's composition root: settings, the `vigil` command and process wiring.

The only place that reads the environment and builds adapters (MQTT, Kafka, PostgreSQL, HTTP)
and injects them into the ingest, stream, alerts and api packages.
"""
