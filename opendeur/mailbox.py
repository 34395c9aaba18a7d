"""A local SMTP sink for the embedded mode: keeps mail under the data dir and shows it on a page."""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import os
import re
import time
from pathlib import Path

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

_URL = re.compile(r"https?://[^\s<>\"]+")


class _Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)

    async def handle_DATA(self, _server, _session, envelope) -> str:
        # The mails hold callback links (the link is the credential): readable by this user only.
        path = self.directory / f"{time.time_ns()}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(envelope.original_content or envelope.content)
        return "250 OK"


def _page(directory: Path) -> str:
    items = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:100]:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body else ""
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(text))
        items.append(
            f"<article><h2>{html.escape(str(msg['Subject']))}</h2>"
            f"<p>To: {html.escape(str(msg['To']))} · {html.escape(str(msg['Date'] or ''))}</p>"
            f"<pre>{linked}</pre></article>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
        "content='width=device-width'><meta http-equiv='refresh' content='5'><title>opendeur mailbox"
        "</title></head><body><h1>Local mailbox (embedded mode)</h1>"
        "<p>Mail that opendeur sent; nothing leaves this machine.</p>"
        + ("".join(items) or "<p>No mail yet.</p>")
        + "</body></html>"
    )


def run(directory: Path, smtp_port: int, http_port: int, host: str = "127.0.0.1") -> None:
    controller = Controller(_Store(directory), hostname=host, port=smtp_port)
    controller.start()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return _page(directory)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True}

    try:
        asyncio.run(
            uvicorn.Server(
                uvicorn.Config(app, host=host, port=http_port, log_level="warning")
            ).serve()
        )
    finally:
        controller.stop()
