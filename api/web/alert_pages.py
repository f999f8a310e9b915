"""The alert detail page: the alert, its events, a chart of the readings around it and every
action (the actions themselves go to the REST API from the page script)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
