"""The API's own errors, each with a stable `code` and an HTTP status (mapped to JSON in one
place: api.error_handlers).

    ApiError
    ├── UnauthenticatedError  401 unauthenticated: no token, an unknown or an expired one
    ├── ForbiddenError        403 forbidden: the caller's role can never do this
    │   └── CsrfError         403 csrf_failed: a change made with the session cookie lacks the
    │                         session's CSRF token (header X-CSRF-Token or form field csrf_token)
    ├── NotFoundError         404 not_found: no such thing, or one outside the caller's scope
    ├── ConflictError         409 conflict: it exists already, or a concurrent change won
    ├── InvalidRequestError   422 invalid_request: well-formed but not acceptable
    └── UnavailableError      503 unavailable: a part this process was not given (retriable
                              against a process that has it)

alerts.actions.ActionError (alert_not_found, action_refused, invalid_action) is mapped by the
same handler through its own `code` and `status`. None of these is retriable by repeating the
same request, except ConflictError after a concurrent change.
"""

from __future__ import annotations


class ApiError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnauthenticatedError(ApiError):
    code = "unauthenticated"
    status = 401


class ForbiddenError(ApiError):
    code = "forbidden"
    status = 403


class CsrfError(ForbiddenError):
    code = "csrf_failed"


class NotFoundError(ApiError):
    code = "not_found"
    status = 404


class ConflictError(ApiError):
    code = "conflict"
    status = 409


class InvalidRequestError(ApiError):
    code = "invalid_request"
    status = 422


class UnavailableError(ApiError):
    code = "unavailable"
    status = 503
