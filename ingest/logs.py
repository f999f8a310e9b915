"""Log plumbing every room uses (issue 13): JSON lines on request, and pseudonyms for ids.

- `JsonFormatter`: one JSON object per line with `ts` (UTC, ISO 8601, milliseconds), `level`,
  `logger` and `message`; an exception adds `exc_type` (its class only: the text of a database
  error can quote row values) and never a traceback's text; `extra=` fields pass only if their
  name is in `SAFE_EXTRAS` (bounded things: a reason, a count, a kind), the rest is dropped.
  The composition root installs it when `VIGIL_LOG_FORMAT=json` (vigil.cli, vigil.worker).
- `ref`: what a log line says instead of a device or patient id: a keyed hash (BLAKE2b with a
  key drawn when the process starts), the same within one process's log, so repeated trouble
  from one device is visible, but not reversible by hashing every possible id (device ids are
  short and guessable). Whoever needs the device looks it up where it is stored
  (`rejected_readings`, `technical_alerts`), behind the database's access control.

Must not: write an id, a reading value or a payload into a line; read settings (the root
configures logging); do I/O beyond what the logging handler does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from datetime import UTC, datetime
from typing import Any

SAFE_EXTRAS = frozenset({"reason", "kind", "count", "tier", "severity", "rule_id", "metric",
                         "messages", "readings", "seconds", "status"})  # fmt: skip
_KEY = secrets.token_bytes(16)  # drawn once per process: pseudonyms do not survive a restart
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def ref(identifier: str) -> str:
    """A pseudonym for a device or patient id in a log line (module docstring)."""
    digest = hashlib.blake2b(identifier.encode(), key=_KEY, digest_size=5).hexdigest()
    return f"ref:{digest}"


def loggable(kind: str, subject: str) -> str:
    """A technical alert's subject as a log line may show it: a device's id (kinds `device_*`)
    or a patient's (`detection_*`) as its pseudonym; the pipeline's own subjects (`ingest`,
    `outbox`, a runner) as they are."""
    return ref(subject) if kind.startswith(("device_", "detection_")) else subject


def refs(identifiers: list[str], most: int = 5) -> str:
    """Pseudonyms of the first `most` ids, comma-separated, `…` if there were more."""
    shown = ", ".join(ref(i) for i in identifiers[:most])
    return shown + ("…" if len(identifiers) > most else "")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            doc["exc_type"] = record.exc_info[0].__name__
        for name, value in vars(record).items():
            if name in SAFE_EXTRAS and name not in _STANDARD:
                doc[name] = value if isinstance(value, int | float | bool) else str(value)
        return json.dumps(doc, ensure_ascii=False)


def configure(level: str, fmt: str, stream: Any) -> None:
    """Root logging for a process: text (the default) or JSON lines on `stream`."""
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def dict_config(level: str) -> dict[str, Any]:
    """The same JSON output as a `logging.config.dictConfig` (for Faust's worker, which sets up
    logging itself)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
    }
