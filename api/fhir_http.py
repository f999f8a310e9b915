"""HTTP for the FHIR API (/fhir/R4): its media type, its base URL and its errors as
OperationOutcome (api.error_handlers asks `is_fhir` and `outcome_response` for every error).

Must not: hold routes or queries.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from reports.fhir import outcome

PREFIX = "/fhir/R4"
FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
# The API's stable error codes -> FHIR issue types (http://hl7.org/fhir/issue-type)
_ISSUE = {"not_found": "not-found", "unauthenticated": "login", "forbidden": "forbidden",
          "csrf_failed": "security", "invalid_request": "invalid", "conflict": "conflict",
          "method_not_allowed": "not-supported", "unavailable": "transient",
          "internal_error": "exception"}  # fmt: skip


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def is_fhir(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def base(request: Request) -> str:
    """The FHIR base URL as this request reached the API (…/fhir/R4, no trailing slash)."""
    return str(request.base_url).rstrip("/") + PREFIX


def outcome_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> FhirResponse:
    body = outcome(_ISSUE.get(code, "processing"), f"{code}: {message}")
    return FhirResponse(body, status_code=status, headers=headers)
