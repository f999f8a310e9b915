"""The one place errors become JSON: `{"error": {"code": "<stable code>", "message": "..."}}`,
or under /fhir/R4 a FHIR OperationOutcome with the same code and message (api.fhir_http).

Maps the API's error tree (api.errors), the alert actions' tree (alerts.actions), request
validation, unknown routes and methods, and the database's refusals of bad data. Anything else
is a 500 `internal_error`, logged with its class, SQLSTATE and traceback frames but never its
message (ingest.retry.describe, frames) and answered without any of them.

Must not: put request values (possibly PHI) into messages or logs.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alerts.actions import ActionError
from api.errors import ApiError
from api.fhir_http import is_fhir, outcome_response
from ingest.retry import describe, frames

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated",
               403: "forbidden"}  # fmt: skip


def error_response(status: int, code: str, message: str, path: str = "") -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if is_fhir(path):
        return outcome_response(status, code, message, headers)
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError | ActionError)
    return error_response(exc.status, exc.code, str(exc), request.url.path)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    first = errors[0] if errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid')}"
    return error_response(422, "invalid_request", message, request.url.path)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    response = error_response(exc.status_code, code, str(exc.detail), request.url.path)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _integrity(request: Request, exc: Exception) -> Response:
    log.warning("database refused a write: %s", describe(exc))
    message = "the change conflicts with the stored data"
    return error_response(409, "conflict", message, request.url.path)


async def _data(request: Request, exc: Exception) -> Response:
    log.warning("database refused a value: %s", describe(exc))
    message = "a value cannot be stored or compared"
    return error_response(422, "invalid_request", message, request.url.path)


class InternalErrors:
    """Outermost handler of the unexpected: a 500 JSON body, never a traceback (ASGI middleware,
    so the exception is not re-raised into the server once answered)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # its text is not logged: it can quote PHI (a database's DETAIL)
            log.error("unhandled error in %s %s (%s)\n%s", scope.get("method"), scope.get("path"),
                      describe(exc), frames(exc))  # fmt: skip
            if started:
                raise
            path = str(scope.get("path", ""))
            response = error_response(500, "internal_error", "internal error", path)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ActionError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(psycopg.errors.IntegrityError, _integrity)
    app.add_exception_handler(psycopg.DataError, _data)
    app.add_middleware(InternalErrors)
