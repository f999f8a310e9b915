"""The REST world (tests.integration.rest_world) with sign-in accounts for team 0's nurse,
doctor and admin, and the app on a clock the test moves (sessions expire without waiting)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from psycopg_pool import AsyncConnectionPool

from alerts.response import PgResponse
from api.app import create_app
from api.feed import AlertFeed
from api.session_policy import SessionPolicy
from api.staff_accounts import add_staff
from tests.integration.rest_world import World, seed, utc_now

PASSWORD = "correct horse battery"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def login(world: World, role: str, team: int = 0) -> str:
    return f"{role}{team}.{world.tag}"


async def seed_accounts(dsn: str, tag: str) -> World:
    world = await seed(dsn, tag)
    async with AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        for team in range(2):
            for role in ("nurse", "doctor", "admin"):
                await add_staff(
                    pool, utc_now(), login=login(world, role, team), name=f"{role.title()} Li",
                    role=role, teams=[world.teams[team].id], password=PASSWORD,
                    staff_id=world.staff(team, role),
                )  # fmt: skip
    return world


@contextlib.asynccontextmanager
async def session_client(
    dsn: str, clock: Clock, policy: SessionPolicy | None = None, base_url: str = "http://vigil.test"
) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False) as pool:
        app = create_app(
            pool=pool, feed=AlertFeed(pool, dsn), clock=clock, allowed_origins=[],
            storage_mode="plain", response=PgResponse(pool, clock), sessions=policy,
        )  # fmt: skip
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


async def sign_in(client: httpx.AsyncClient, who: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(
        "/auth/signin", data={"login": who, "password": password},
        headers={"Accept": "application/json"},
    )  # fmt: skip
