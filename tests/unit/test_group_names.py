"""The kit's group names (opendeur.web.group_names): cached for ten minutes, but a page that
names a group the cache does not know (one imported a moment ago) asks routing again, so the
coordinator does not see the new group by its code for ten minutes (the full run: the contacts
page showed a just-imported group's code)."""

from __future__ import annotations

import httpx
import pytest

from contracts.directory import directory_id
from opendeur import web
from opendeur.settings import Settings

REAL_CLIENT = httpx.AsyncClient


@pytest.fixture
def directory(monkeypatch: pytest.MonkeyPatch) -> dict:
    state: dict = {"groups": {"rouw-a": "Rouwgroep A"}, "asked": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        state["asked"] += 1
        services = [
            {"id": directory_id("service", g), "name": n} for g, n in state["groups"].items()
        ]
        return httpx.Response(200, json={"services": services})

    class Client(REAL_CLIENT):
        def __init__(self, **kw: object) -> None:
            super().__init__(transport=httpx.MockTransport(answer), **kw)

    monkeypatch.setattr(httpx, "AsyncClient", Client)
    monkeypatch.setattr(web, "_directory", web._Directory())
    return state


async def test_a_group_that_just_joined_is_named_not_coded(
    directory: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None, secret_key="k" * 40)
    names = await web.group_names(settings, ["rouw-a"])
    assert web.group_label(names, "rouw-a") == "Rouwgroep A" and directory["asked"] == 1
    directory["groups"]["nieuw-b"] = "Nieuwe Groep B"
    # Known groups only: the cache answers, routing is not asked.
    await web.group_names(settings, ["rouw-a"])
    assert directory["asked"] == 1
    # An unknown group within 5 s of the last question: not yet (no storm of requests) ...
    names = await web.group_names(settings, ["nieuw-b"])
    assert web.group_label(names, "nieuw-b") == "nieuw-b" and directory["asked"] == 1
    # ... and after it, asked again: the new group by its name.
    monkeypatch.setattr(web, "MISS_REFRESH_S", 0.0)
    names = await web.group_names(settings, ["nieuw-b"])
    assert web.group_label(names, "nieuw-b") == "Nieuwe Groep B" and directory["asked"] == 2
    # A group the directory does not list (one that left) shows by its code and, once routing
    # has said so, asks no more: a console naming it does not ask routing on every load.
    names = await web.group_names(settings, ["vertrokken-c"])
    assert web.group_label(names, "vertrokken-c") == "vertrokken-c" and directory["asked"] == 3
    for _ in range(3):
        await web.group_names(settings, ["vertrokken-c", "nieuw-b"])
    assert directory["asked"] == 3
