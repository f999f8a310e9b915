"""Opaque page cursors: the sort key of the last row of a page, as URL-safe base64 JSON.

Pure. A cursor that does not decode to the expected shape is an invalid request, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from api.errors import InvalidRequestError


def encode(*key: Any) -> str:
    parts = [
        k.isoformat() if isinstance(k, datetime) else str(k) if isinstance(k, uuid.UUID) else k
        for k in key
    ]
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode(cursor: str, shape: tuple[type, ...]) -> tuple[Any, ...]:
    """The key in `cursor`, each part converted to the type in `shape` (datetime from ISO,
    UUID from its text)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(shape):
            raise ValueError("wrong shape")
        return tuple(_part(p, t) for p, t in zip(parts, shape, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError("cursor: not a cursor this endpoint gave out") from None


def _part(value: Any, kind: type) -> Any:
    if kind is datetime:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError("wrong type")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL")
    return value
