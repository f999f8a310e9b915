"""The one typed settings object of a Vigil process (CONVENTIONS 7).

Built once by the composition root (`load_settings`) from the environment (prefix `VIGIL_`,
nested groups joined by `__`, e.g. `VIGIL_DB__DSN`) and from `<state_dir>/services.env`, which
`infra/services.sh` writes with the endpoints and generated secrets of the private services.
Nothing reads the environment at import time; modules receive the parts they need.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(18830, ge=1, le=65535)
    username: str = "svc-ingest"
    password: SecretStr = SecretStr("")
    # Service client ids live in the reserved `vigil-` space: no device can connect with one
    # (the broker pins each device's client id to its device id; see ingest.dynsec).
    client_id: str = Field("vigil-ingest", pattern=r"^vigil-[A-Za-z0-9_.-]{1,80}$")
    keepalive_s: int = Field(30, ge=5)
    # The broker-admin account (dynamic-security plugin) the API provisions devices with.
    admin_username: str = "svc-provision"
    admin_password: SecretStr = SecretStr("")
    # The broker's TLS listeners (devices: password or client certificate) and the CA that
    # signed its certificate; services.sh makes a private one for local runs.
    tls_port: int | None = Field(None, ge=1, le=65535)
    cert_port: int | None = Field(None, ge=1, le=65535)
    ca_file: Path | None = None
    # Vigil's own connections (ingest, outbox, provisioning) over the TLS listener, verified
    # with `ca_file`: for a broker on another host. Off for loopback, where TLS buys nothing.
    service_tls: bool = False
    # (How many unacknowledged messages the broker sends the ingest, and how long it keeps a
    # stopped ingest's queue, are broker settings: see infra/mosquitto/mosquitto.conf.in.)

    @model_validator(mode="after")
    def _service_tls_needs_listener(self) -> MqttSettings:
        if self.service_tls and (self.tls_port is None or self.ca_file is None):
            raise ValueError("mqtt.service_tls needs mqtt.tls_port and mqtt.ca_file")
        return self

    def service_endpoint(self) -> tuple[str, int, ssl.SSLContext | None]:
        """Where Vigil's own clients connect: host, port and the TLS context (None: plain)."""
        if not self.service_tls or self.tls_port is None:
            return self.host, self.port, None
        return self.host, self.tls_port, ssl.create_default_context(cafile=self.ca_file)


class DbSettings(BaseModel):
    dsn: SecretStr = SecretStr("postgresql://vigil@127.0.0.1:15432/vigil")
    # Superuser connection, used only by tests and `vigil db create` to make databases.
    admin_dsn: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:15432/postgres")
    mode: Literal["auto", "timescaledb", "plain"] = "auto"
    pool_min: int = Field(1, ge=1)
    pool_max: int = Field(8, ge=1)


class KafkaSettings(BaseModel):
    bootstrap: str = "127.0.0.1:19092"
    readings_topic: str = "vigil.readings"
    partitions: int = Field(4, ge=1)
    app_id: str = "vigil-stream"
    # The Faust worker's longest fetch wait at the broker; faust's own 1,500 ms held readings
    # up to 1.5 s behind a fetch of quiet partitions (stream/faust_fetch.py).
    fetch_max_wait_ms: int = Field(20, ge=1, le=1_500)


class IngestSettings(BaseModel):
    max_payload_bytes: int = Field(65_536, ge=1024)
    max_readings_per_payload: int = Field(1_000, ge=1)
    max_future_skew_s: float = Field(300.0, ge=0)
    max_age_s: float = Field(7 * 86_400.0, gt=0)
    batch_max_messages: int = Field(500, ge=1)
    batch_linger_ms: float = Field(5.0, ge=0)
    # Batches being made durable at once (ingest/loop.py). Times batch_max_messages, it must
    # stay below the broker's max_inflight_messages (5,000), or the broker stops sending.
    batches_in_flight: int = Field(8, ge=1)
    binding_refresh_s: float = Field(30.0, gt=0)
    # A device whose payloads are mostly rejected raises a technical alert once it has sent this
    # many bad payloads within `bad_device_window_s`.
    bad_device_threshold: int = Field(20, ge=1)
    bad_device_window_s: float = Field(600.0, gt=0)
    # Refused payloads (rejected_readings, quarantine included) are deleted after this long;
    # the retention runs every `rejected_purge_every_s` in the ingest process.
    rejected_retention_days: float = Field(30.0, gt=0)
    rejected_purge_every_s: float = Field(3600.0, gt=0)


class StreamSettings(BaseModel):
    sink_batch_max: int = Field(2_000, ge=1)
    # Connections a batch of readings is written over at once (stream/sink.py): PostgreSQL
    # then uses a second core while the first is busy (bench ingest: about +6 %).
    sink_writers: int = Field(2, ge=1)
    # How long the Faust agent waits to fill a batch. Each batch is one database transaction: at
    # 10 ms batches averaged 54 messages and the worker spent its time on per-batch costs; 50 ms
    # raised its drain rate from ~2,900 to ~4,800 readings/s for ~25 ms more median latency.
    sink_linger_ms: float = Field(50.0, ge=0)
    # Event time: readings up to this much older than the newest of their stream are still put
    # in order; older ones are late (stored, flagged, never paged retroactively).
    allowed_lateness_s: float = Field(120.0, ge=0)
    # A stream quiet for this long (processing time) is considered caught up and flushed.
    idle_flush_s: float = Field(30.0, gt=0)
    tick_s: float = Field(5.0, gt=0)
    override_refresh_s: float = Field(60.0, gt=0)
    snapshot_s: float = Field(60.0, gt=0)
    # The pipeline's own alarms (technical alerts): no readings at all for this long, this many
    # readings waiting for over a minute, the database refusing writes for this long.
    alarm_no_data_s: float = Field(600.0, gt=0)
    alarm_lag_readings: int = Field(50_000, ge=1)
    alarm_db_refusing_s: float = Field(30.0, gt=0)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8700, ge=1, le=65535)
    allowed_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8700"])
    ws_queue_max: int = Field(1_000, ge=1)
    # The largest websocket message a client may send (an ack is ~150 bytes): a bigger one
    # closes the socket with 1009 before it is buffered (uvicorn's default was 16 MiB).
    ws_max_message_bytes: int = Field(65_536, ge=1_024, le=1_048_576)
    # Staff sessions (api.session_policy): ended after this long unused, and this long after
    # sign-in whatever happens. `tls_terminated`: a proxy in front serves https, so the session
    # cookie is always marked Secure even though this process sees plain http.
    session_idle_s: float = Field(1_800.0, gt=0)
    session_absolute_s: float = Field(43_200.0, gt=0)
    signin_max_failures: int = Field(5, ge=1)
    signin_lockout_s: float = Field(900.0, gt=0)
    tls_terminated: bool = False
    # The API serves https itself when both are set (PEM files; for local runs the private CA's
    # certificate services.sh makes serves 127.0.0.1 and localhost: see README, "TLS").
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    # The CA that Vigil's own clients of this API (`vigil watch`, the demo) trust besides the
    # system's: the local CA for local runs.
    tls_ca_file: Path | None = None
    # FHIR bulk export files (issue 13) are kept this long under <state_dir>/fhir-exports, then
    # purged with their job.
    fhir_export_keep_s: float = Field(86_400.0, gt=0)

    @model_validator(mode="after")
    def _session_bounds(self) -> ApiSettings:
        if self.session_idle_s > self.session_absolute_s:
            raise ValueError("api.session_idle_s must not exceed api.session_absolute_s")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("api.tls_certfile and api.tls_keyfile are set together or not at all")
        return self

    @property
    def base_url(self) -> str:
        """Where this API answers: https when it serves TLS itself."""
        scheme = "https" if self.tls_certfile else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def client_ssl(self) -> ssl.SSLContext | None:
        """The TLS context a client of this API verifies it with (None over plain http)."""
        if self.tls_certfile is None:
            return None
        return ssl.create_default_context(cafile=self.tls_ca_file)


class OutboxSettings(BaseModel):
    """Tier-1 patient messages (alerts.outbox): delivery rounds, safety-net poll, retries, and
    the technical alarm for messages stuck unsent."""

    batch_max: int = Field(50, ge=1)
    poll_s: float = Field(30.0, gt=0)
    publish_timeout_s: float = Field(10.0, gt=0)
    retry_base_s: float = Field(2.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)
    # A message unsent this long raises the `outbox_stuck` technical alarm (a re-measure prompt
    # is due within minutes, DESIGN 5; the retry cap alone is 5 min).
    stuck_after_s: float = Field(900.0, gt=0)

    @model_validator(mode="after")
    def _retry_bounds(self) -> OutboxSettings:
        if self.retry_base_s > self.retry_max_s:
            raise ValueError("outbox.retry_base_s must not exceed outbox.retry_max_s")
        return self


class RiskSettings(BaseModel):
    """The care program's risk passes (program.recompute): incremental every `interval_s` over
    patients with new readings or alert events, full every `full_every_s`."""

    enabled: bool = True
    interval_s: float = Field(30.0, gt=0)
    full_every_s: float = Field(3600.0, gt=0)


class KpiSettings(BaseModel):
    """Program KPIs (reports.kpi_queries): the daily aggregate of readings is refreshed every
    `refresh_s` (incrementally; a KPI read also refreshes it first when it is older than
    kpi_queries.MAX_AGE, e.g. with this loop disabled)."""

    enabled: bool = True
    refresh_s: float = Field(300.0, gt=0)


class ProgramSettings(BaseModel):
    """The care program's scheduler (program.scheduler): tier-1 reminders, advice and the
    "stopped measuring" rule, every `tick_s`, over messages due in the last `catch_up_s`."""

    enabled: bool = True
    tick_s: float = Field(60.0, gt=0)
    catch_up_s: float = Field(3600.0, gt=0)


class MetricsSettings(BaseModel):
    """The operators' metrics (ingest.metrics; README, operations). The API serves /metrics:
    with `token` set, to `Authorization: Bearer <token>` only; without, to loopback clients
    only (others get 404). `port`: the exporter of a process without HTTP (`vigil ingest`,
    `vigil worker`), off unless set, on `host` (loopback unless told otherwise)."""

    token: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=1, le=65535)
    # Database figures (open alerts, outbox) are queried at most once per this long.
    db_max_age_s: float = Field(10.0, gt=0)


class SimulatorSettings(BaseModel):
    # Simulated devices derive their MQTT passwords from this secret (see simulators.fleet).
    secret: SecretStr = SecretStr("")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    state_dir: Path = Path(".vigil")
    bus: Literal["embedded", "kafka"] = "embedded"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # `json`: one JSON object per line (ts, level, logger, message; ingest.logs)
    log_format: Literal["text", "json"] = "text"
    mqtt: MqttSettings = MqttSettings()
    db: DbSettings = DbSettings()
    kafka: KafkaSettings = KafkaSettings()
    ingest: IngestSettings = IngestSettings()
    stream: StreamSettings = StreamSettings()
    api: ApiSettings = ApiSettings()
    outbox: OutboxSettings = OutboxSettings()
    program: ProgramSettings = ProgramSettings()
    sim: SimulatorSettings = SimulatorSettings()
    risk: RiskSettings = RiskSettings()
    kpis: KpiSettings = KpiSettings()
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _pool_bounds(self) -> Settings:
        if self.db.pool_min > self.db.pool_max:
            raise ValueError("db.pool_min must not exceed db.pool_max")
        return self


def load_settings() -> Settings:
    """Build the process's settings: environment first, then `<state_dir>/services.env`."""
    state_dir = Path(os.environ.get("VIGIL_STATE_DIR", ".vigil"))
    env_file = state_dir / "services.env"
    return Settings(_env_file=env_file if env_file.exists() else None)
