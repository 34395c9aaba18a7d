"""Front-door guard (ASGI): rate limits per client address or per trusted frontend's key, and a
cap on request body size.

The client address is the TCP peer's, or the one uvicorn took from X-Forwarded-For when the peer
is one of OPENDEUR_TRUSTED_PROXIES (opendeur serve sets uvicorn's proxy options from it); a
header from anyone else changes nothing."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opendeur.logging import get_logger
from opendeur.runtime import SECURITY_HEADERS, error_body
from services.intake.ratelimit import (
    Frontend,
    Limiter,
    match_frontend,
    retry_after_header,
)
from services.intake.web.i18n import NETWORK_PHONE, t
from services.intake.web.pages import render

log = get_logger(component="intake.guard")

MAX_BODY = 64 * 1024
API_PATH = "/api/v1/questions"
FORM_PATH = "/"
FRONTEND_HEADER = b"x-frontend-key"


class FrontDoorGuard:
    def __init__(
        self,
        app: ASGIApp,
        limiter: Limiter,
        max_body: int = MAX_BODY,
        frontends: list[Frontend] | None = None,
    ) -> None:
        self.app, self.limiter, self.max_body = app, limiter, max_body
        self.frontends = frontends or []
        self.per_frontend = {f.name: Limiter(f.rate) for f in self.frontends}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        refusal = self._rate_refusal(scope)
        if refusal is not None:
            await self._send(refusal, scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is None:
            await self._read_capped(scope, receive, send)
        elif not length.isdigit() or int(length) > self.max_body:
            await self._send(self._too_large(), scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _rate_refusal(self, scope: Scope) -> Response | None:
        """For a question posted (API or form): 401 for an unknown frontend key, 429 past the
        frontend's or the client address's limit; None lets it in."""
        path = scope["path"]
        if scope["method"] != "POST" or path not in (API_PATH, FORM_PATH):
            return None
        key = dict(scope["headers"]).get(FRONTEND_HEADER)
        if key is not None:
            frontend = match_frontend(self.frontends, key.decode("latin-1"))
            if frontend is None:
                log.warning("frontend_key_refused", path=path)
                return self._bad_key()
            wait = self.per_frontend[frontend.name].take(frontend.name)
        else:
            client = scope.get("client")
            wait = self.limiter.take(client[0] if client else "unknown")
        if not wait:
            return None
        log.warning("rate_limited", path=path)
        return self._limited(scope, path, wait)

    async def _read_capped(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No declared length (chunked): read up to the cap here, then replay to the app."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                await self._send(self._too_large(), scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _send(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        await response(scope, receive, send)

    def _too_large(self) -> Response:
        return JSONResponse(
            error_body(
                "request_too_large", f"The request body is larger than {self.max_body} bytes."
            ),
            status_code=413,
        )

    @staticmethod
    def _bad_key() -> Response:
        return JSONResponse(
            error_body("invalid_frontend_key", "This frontend key is not known."),
            status_code=401,
        )

    def _limited(self, scope: Scope, path: str, wait: float) -> Response:
        headers = {"Retry-After": retry_after_header(wait)}
        if path == API_PATH:
            return JSONResponse(
                error_body(
                    "rate_limited",
                    "Too many questions from this address; try again after Retry-After seconds.",
                ),
                status_code=429,
                headers=headers,
            )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        lang = "en" if query.get("lang") == ["en"] else "nl"
        return render(
            "message.html",
            lang,
            status=429,
            headers=headers,
            heading=t("rate_limited_title", lang),
            body=t("rate_limited", lang, phone=NETWORK_PHONE),
        )
