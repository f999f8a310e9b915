"""The API serving https itself (issue 14, deliverable 2): `api.tls_certfile`/`tls_keyfile` put
uvicorn on TLS with the certificate services.sh makes from its private CA. Over https the
session cookie is Secure and HSTS is sent; plain http on that port gets no answer; a client that
does not trust the CA gets nothing. The server is the one `vigil run` builds
(`vigil.runtime.build_api_server`), on a real socket and a real database."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from tests.integration.session_world import PASSWORD, login, seed_accounts
from tests.integration.stack import free_port
from vigil.runtime import build_api_server
from vigil.settings import Settings

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(60)]


def tls_settings(settings: Settings, dsn: str, port: int) -> Settings:
    """The test's settings with the API on `port`, serving the local CA's server certificate."""
    ca = settings.mqtt.ca_file
    assert ca is not None, "services.sh writes VIGIL_MQTT__CA_FILE with its private CA"
    tls = Path(ca).parent
    api = settings.api.model_copy(update={
        "port": port, "tls_certfile": tls / "server.crt", "tls_keyfile": tls / "server.key",
        "tls_ca_file": ca,
    })  # fmt: skip
    db = settings.db.model_copy(update={"dsn": type(settings.db.dsn)(dsn)})
    return settings.model_copy(update={"api": api, "db": db})


@contextlib.asynccontextmanager
async def https_api(settings: Settings) -> AsyncIterator[str]:
    dsn = settings.db.dsn.get_secret_value()
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        server = build_api_server(settings, pool, "plain", None)
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                assert not task.done(), "the API server stopped during start-up"
                await asyncio.sleep(0.05)
            yield settings.api.base_url
        finally:
            server.should_exit = True
            await task


async def test_api_serves_https_with_secure_cookie_and_hsts(settings: Settings, dsn: str,
                                                            tag: str) -> None:  # fmt: skip
    world = await seed_accounts(dsn, tag)
    s = tls_settings(settings, dsn, free_port())
    assert s.api.base_url.startswith("https://")
    async with https_api(s) as url, httpx.AsyncClient(verify=s.api.client_ssl()) as client:
        live = await client.get(f"{url}/health/live")
        assert live.status_code == 200
        assert live.headers["strict-transport-security"].startswith("max-age=")
        signin = await client.post(
            f"{url}/auth/signin", data={"login": login(world, "nurse"), "password": PASSWORD},
            headers={"Accept": "application/json"},
        )  # fmt: skip
        assert signin.status_code == 200, signin.text
        cookie = signin.headers["set-cookie"].lower()
        assert "secure" in cookie
        assert "httponly" in cookie


async def test_plain_http_and_untrusting_clients_get_nothing(settings: Settings, dsn: str) -> None:
    s = tls_settings(settings, dsn, free_port())
    async with https_api(s) as url:
        async with httpx.AsyncClient() as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get(url.replace("https://", "http://") + "/health/live")
        async with httpx.AsyncClient(verify=ssl.create_default_context()) as stranger:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await stranger.get(f"{url}/health/live")
