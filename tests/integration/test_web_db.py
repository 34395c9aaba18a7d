"""The web kit's `Db` (opendeur/web.py) against the real PostgreSQL: one transaction per request,
committed before the answer goes out (the GET after a redirect sees it), nothing kept when the
route refuses or fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from opendeur import web
from opendeur.db import make_engine, sessionmaker
from opendeur.embedded import Postgres
from opendeur.errors import Refused
from opendeur.runtime import install_basics


def make_app(rt: SimpleNamespace) -> FastAPI:
    app = FastAPI()
    install_basics(app, rt)  # type: ignore[arg-type]

    @app.post("/notes")
    async def add(word: str, db: web.Db) -> RedirectResponse:
        await db.execute(text("insert into notes (word) values (:w)"), {"w": word})
        if word == "refused":
            raise Refused("not_allowed", "This word is not allowed.", "word")
        if word == "broken":
            raise RuntimeError("the route failed after writing")
        return RedirectResponse("/notes", 303)

    @app.get("/notes")
    async def show(db: web.Db) -> list[str]:
        rows = await db.execute(text("select word from notes order by id"))
        return [r[0] for r in rows]

    return app


@pytest.fixture
async def client(pg: Postgres) -> AsyncIterator[httpx.AsyncClient]:
    database = f"od_kit_{uuid.uuid4().hex[:8]}"
    pg.ensure_database(database)
    engine = make_engine(pg.url(database), pool_size=2)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table notes (id serial primary key, word text)"))
        rt = SimpleNamespace(service="kit", sessions=sessionmaker(engine), settings=None)
        transport = httpx.ASGITransport(app=make_app(rt), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c
    finally:
        await engine.dispose()


async def test_a_post_is_committed_before_its_redirect_is_followed(
    client: httpx.AsyncClient,
) -> None:
    got = await client.post("/notes", params={"word": "hello"}, follow_redirects=True)
    assert (got.status_code, got.json()) == (200, ["hello"])


async def test_a_refused_or_failed_request_changes_nothing(client: httpx.AsyncClient) -> None:
    refused = await client.post("/notes", params={"word": "refused"})
    assert refused.status_code == 422 and refused.json()["field"] == "word"
    failed = await client.post("/notes", params={"word": "broken"})
    assert failed.status_code == 500 and failed.json()["error"] == "internal_error"
    assert (await client.get("/notes")).json() == []
    await client.post("/notes", params={"word": "kept"})
    assert (await client.get("/notes")).json() == ["kept"]
