"""Topic labels from routing's public GET /api/v1/topics, cached; the code itself when routing is away."""

from __future__ import annotations

import time

import httpx

from opendeur.logging import get_logger

log = get_logger(component="notify.labels")


class TopicLabels:
    def __init__(self, url: str, ttl: float = 600.0, retry_after: float = 30.0) -> None:
        self.url = url
        self.ttl = ttl
        self.retry_after = retry_after
        self._labels: dict[str, dict[str, str]] = {}
        self._next_fetch = 0.0

    async def _refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_fetch:
            return
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                self._labels = {t["code"]: {"nl": t["nl"], "en": t["en"]} for t in response.json()}
            self._next_fetch = now + self.ttl
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("topic_labels_unavailable", error=type(exc).__name__)
            self._next_fetch = now + self.retry_after

    async def label(self, code: str | None, lang: str) -> str | None:
        if code is None:
            return None
        await self._refresh()
        return self._labels.get(code, {}).get(lang) or code
