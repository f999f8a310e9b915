"""`GET /metrics`: the process's Prometheus metrics (ingest.metrics), for operators' scrapers.

Who may scrape: with a metrics token configured (`VIGIL_METRICS__TOKEN`), a request carrying
`Authorization: Bearer <token>` (compared in constant time), from anywhere; without one, only a
client on a loopback address (a Prometheus or agent on the same host). Anyone else gets the
API's ordinary 404, so the endpoint is not advertised; it is left out of the OpenAPI document.
The token is none of the API's staff tokens: it opens nothing but this page. The page holds no
PHI either way (counts and times by bounded labels only); it is not cached (api.web.security).

Must not: compute figures of its own; answer before the database figures had their chance to
refresh (`Metrics.refresh`, cached for a few seconds).
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ingest.metrics import CONTENT_TYPE, Metrics

router = APIRouter()


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed(request: Request, token: str | None) -> bool:
    if token is None:
        return _loopback(request.client.host if request.client else None)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state
    found: Metrics | None = getattr(state, "metrics", None)
    if found is None or not allowed(request, getattr(state, "metrics_token", None)):
        raise HTTPException(status_code=404)  # as an unknown path answers
    await found.refresh()
    return Response(found.exposition(), media_type=CONTENT_TYPE)
