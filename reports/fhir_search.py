"""FHIR search parameters Vigil understands, parsed into plain values (pure).

- `date`: repeatable, prefixes `ge`, `gt`, `le`, `lt` (and none, meaning `eq`), a date
  (`2026-11-23`: that whole UTC day) or a dateTime with an offset (that instant). Each value is a
  range; the prefix picks its start or end, and the ranges are intersected.
- `code`: comma-separated tokens `[system|]code`; LOINC codes from the code table, any other
  system or code matches nothing.
- references: `Patient/{id}` or a bare id, FHIR ids (`reports.fhir.fhir_id`).

Must not: touch the database or the request; errors are `SearchError` with a message that
quotes no value (it may be PHI).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from reports.fhir import vigil_id
from reports.fhir_codes import CODE_FILTERS, LOINC, CodeFilter

_TICK = timedelta(microseconds=1)  # PostgreSQL's resolution: an instant is [t, t + 1 us)


class SearchError(ValueError):
    """A search parameter Vigil cannot honour; `code` is the FHIR issue type."""

    def __init__(self, message: str, code: str = "invalid") -> None:
        super().__init__(message)
        self.code = code


def _range(text: str) -> tuple[datetime, datetime]:
    try:
        if len(text) == 10:
            start = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
            return start, start + timedelta(days=1)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SearchError("date: not a FHIR date or dateTime") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at, at + _TICK


def dates(values: list[str]) -> tuple[datetime | None, datetime | None]:
    """The half-open range [since, until) the `date` parameters select (None: unbounded)."""
    since: datetime | None = None
    until: datetime | None = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        start, end = _range(text)
        if prefix not in ("eq", "ge", "gt", "le", "lt"):
            raise SearchError("date: prefixes ge, gt, le, lt only", "not-supported")
        low = {"eq": start, "ge": start, "gt": end}.get(prefix)
        high = {"eq": end, "le": end, "lt": start}.get(prefix)
        since = low if since is None or (low is not None and low > since) else since
        until = high if until is None or (high is not None and high < until) else until
    return since, until


def codes(value: str | None) -> tuple[CodeFilter, ...] | None:
    """What the `code` parameter selects: None for every code, () for none Vigil has."""
    if value is None:
        return None
    found = []
    for token in value.split(","):
        system, _, code = token.rpartition("|")
        if system in ("", LOINC) and code in CODE_FILTERS:
            found.append(CODE_FILTERS[code])
    return tuple(dict.fromkeys(found))


def reference(value: str, kind: str) -> str | None:
    """The Vigil id a reference parameter names (`Kind/id` or `id`), or None if not ours."""
    fid = value.removeprefix(f"{kind}/")
    return None if "/" in fid else vigil_id(fid)
