"""The device contract v1 (DESIGN 3): the one thing devices, simulators and ingest share.

Public surface: `decode` and `Limits` (payload -> messages or rejections), the records
(`DeviceMessage`, `Measurement`, `Rejection`, `RejectReason`, `Decoded`), the metric table
(`METRICS`) and the topic names. Everything here is pure: no paho, no sockets, no clocks.
"""

from ingest.contract.decoder import DEFAULT_LIMITS, Limits, decode
from ingest.contract.records import Decoded, DeviceMessage, Measurement, Rejection, RejectReason
from ingest.contract.topics import (
    READINGS_FILTER,
    ack_topic,
    device_of_readings_topic,
    messages_topic,
    readings_topic,
    status_topic,
)
from ingest.contract.units import METRICS, MetricSpec

__all__ = [
    "DEFAULT_LIMITS",
    "METRICS",
    "READINGS_FILTER",
    "Decoded",
    "DeviceMessage",
    "Limits",
    "Measurement",
    "MetricSpec",
    "RejectReason",
    "Rejection",
    "ack_topic",
    "decode",
    "device_of_readings_topic",
    "messages_topic",
    "readings_topic",
    "status_topic",
]
