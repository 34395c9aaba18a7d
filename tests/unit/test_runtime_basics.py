"""The middleware every service shares: security headers on every response, requests counted by
route template (never by the raw path, which may hold an id or a signed token)."""

import httpx
from fastapi import FastAPI

from opendeur import metrics
from opendeur.runtime import SECURITY_HEADERS, install_basics


def counted(route: str, status: str) -> float:
    return metrics.HTTP_REQUESTS.labels(route=route, status=status)._value.get()


async def test_headers_on_every_response_and_requests_counted_by_template() -> None:
    app = FastAPI()
    install_basics(app, None)  # type: ignore[arg-type]

    @app.get("/c/{token}")
    async def page(token: str) -> dict:
        return {"len": len(token)}

    before = counted("/c/{token}", "200"), counted("other", "404")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ok = await c.get("/c/secret-token-value")
        missing = await c.get("/nowhere")
    for r in (ok, missing):
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value
    assert (ok.status_code, missing.status_code) == (200, 404)
    assert counted("/c/{token}", "200") == before[0] + 1
    assert counted("other", "404") == before[1] + 1
    assert "secret-token-value" not in metrics.render()[0].decode()
