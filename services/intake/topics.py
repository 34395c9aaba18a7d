"""The topic list, read from routing's public API (intake never imports routing)."""

from __future__ import annotations

import re
import time

import httpx

from contracts.events import CODE_PATTERN
from opendeur.logging import get_logger

log = get_logger(component="intake.topics")


class TopicCatalogue:
    """Cached copy of GET /api/v1/topics; when routing is unreachable the door stays open:
    any well-formed code is accepted and routing sends an unknown one to the team."""

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
                    self._topics = list(r.json())
                    self._fetched = time.monotonic()
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("topics_unavailable", error=type(exc).__name__)
        return self._topics

    async def is_known(self, code: str) -> bool:
        topics = await self.all()
        if not topics:
            return re.match(CODE_PATTERN, code) is not None
        return any(t["code"] == code for t in topics)

    async def known_or_none(self, code: str | None) -> str | None:
        return code if code and await self.is_known(code) else None
