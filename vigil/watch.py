"""`vigil watch`: print the live alert feed in a terminal (a websocket client).

Authenticates with the Authorization header, resumes after `--after`, and on a dropped
connection reconnects with the last seq it printed, so nothing is missed or repeated.
"""

from __future__ import annotations

import asyncio
import json
import sys

import websockets

from vigil.settings import Settings


async def watch(settings: Settings, token: str, after: int, count: int) -> int:
    url = settings.api.base_url.replace("http", "ws", 1) + "/ws/alerts"  # wss with TLS
    seen = 0
    while True:
        try:
            async with websockets.connect(
                f"{url}?after={after}",
                additional_headers={"Authorization": f"Bearer {token}"},
                ssl=settings.api.client_ssl(),
            ) as ws:
                async for raw in ws:
                    event = json.loads(raw)
                    if event.get("type") == "hello":
                        print(
                            f"connected as {event['staff_id']} (teams: {', '.join(event['teams'])})"
                        )
                        continue
                    after = int(event["seq"])
                    print(_line(event), flush=True)
                    seen += 1
                    if count and seen >= count:
                        return 0
        except websockets.InvalidStatus as exc:
            print(f"refused: HTTP {exc.response.status_code}", file=sys.stderr)
            return 1
        except (OSError, websockets.ConnectionClosedError) as exc:
            print(f"connection lost ({exc}); reconnecting after seq {after}", file=sys.stderr)
            await asyncio.sleep(1)


def _line(e: dict[str, object]) -> str:
    return (
        f"#{e['seq']} {str(e.get('severity', '')).upper():8} {e.get('patient_id')} "
        f"{e.get('title')} ({e.get('kind')}): {e.get('value')} {e.get('unit')} "
        f"x{e.get('count')} at {e.get('measured_at')}"
    )
