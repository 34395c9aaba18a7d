"""The topic list: the fixed catalogue shipped in contracts/ (intake never imports routing)."""

from __future__ import annotations

import time

import httpx

from contracts import topics as catalogue
from opendeur.logging import get_logger

log = get_logger(component="intake.topics")


class TopicCatalogue:
    """Validates against the catalogue intake ships, so a topic is one of the fixed codes also
    while routing is down; routing's GET /api/v1/topics only refreshes the labels shown."""

    def __init__(self, routing_url: str, ttl: float = 300.0) -> None:
        self.url = routing_url.rstrip("/") + "/api/v1/topics"
        self.ttl = ttl
        self._topics: list[dict] = []
        self._fetched = 0.0

    async def all(self) -> list[dict]:
        if time.monotonic() - self._fetched > self.ttl or not self._topics:
            try:
                async with httpx.AsyncClient(timeout=2.0) as client:
                    r = await client.get(self.url)
                    r.raise_for_status()
                    known = catalogue.codes()
                    live = [t for t in r.json() if isinstance(t, dict) and t.get("code") in known]
                    self._topics = live or list(catalogue.catalogue())
                    self._fetched = time.monotonic()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("topics_unavailable", error=type(exc).__name__)
        return self._topics or list(catalogue.catalogue())

    async def is_known(self, code: str) -> bool:
        return code in catalogue.codes()

    async def known_or_none(self, code: str | None) -> str | None:
        return code if code and await self.is_known(code) else None
