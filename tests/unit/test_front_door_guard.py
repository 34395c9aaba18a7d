"""Intake's front-door guard in front of a stand-in app: a question posted past the rate limit is
refused with Retry-After, an unknown frontend key with 401, a body over the cap with 413 whether
its length is declared or it comes in chunks; everything else reaches the app whole."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from services.intake.guard import FrontDoorGuard
from services.intake.ratelimit import Limiter, parse_frontends, parse_rate

KEY = "phone-line-key"


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind the guard: answers 200 with the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def client(rate: str = "2/min", max_body: int = 100) -> httpx.AsyncClient:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    guard = FrontDoorGuard(
        echo,
        limiter=Limiter(parse_rate(rate)),
        max_body=max_body,
        frontends=parse_frontends(f"phoneline:{digest}:1/min"),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=guard), base_url="http://t")


async def test_questions_past_the_limit_get_429_with_retry_after() -> None:
    async with client() as c:
        assert (await c.post("/api/v1/questions", content=b"{}")).status_code == 200
        assert (await c.post("/api/v1/questions", content=b"{}")).status_code == 200
        refused = await c.post("/api/v1/questions", content=b"{}")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert refused.json()["error"] == "rate_limited"
        page = await c.post("/?lang=en", content=b"a=1")  # the form gets a page, not JSON
        assert page.status_code == 429 and "text/html" in page.headers["content-type"]
        assert (await c.post("/other", content=b"{}")).status_code == 200  # not limited


async def test_a_frontend_has_its_own_limit_and_an_unknown_key_is_refused() -> None:
    async with client(rate="off") as c:
        own = {"x-frontend-key": KEY}
        assert (await c.post("/api/v1/questions", content=b"{}", headers=own)).status_code == 200
        again = await c.post("/api/v1/questions", content=b"{}", headers=own)
        assert again.status_code == 429
        wrong = await c.post("/api/v1/questions", content=b"{}", headers={"x-frontend-key": "x"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_frontend_key"


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"x" * 100, 200),
        (b"x" * 101, 413),
        (chunks(b"x" * 60, b"y" * 40), 200),
        (chunks(b"x" * 60, b"y" * 41), 413),
    ],
)
async def test_the_body_cap_holds_declared_or_chunked(content: object, status: int) -> None:
    async with client(rate="off") as c:
        r = await c.post("/api/v1/questions", content=content)  # type: ignore[arg-type]
    assert r.status_code == status
    if status == 200:
        assert len(r.content) == 100  # the app got the whole body, replayed
    else:
        assert r.json()["error"] == "request_too_large"
