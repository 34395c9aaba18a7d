"""A domain refusal (opendeur.errors.Refused) reaches a person as the one error body with the
status of its kind; the deprecated ApiError still answers as before."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from opendeur.errors import Refused
from opendeur.runtime import ApiError, install_basics

ROOT = Path(__file__).resolve().parents[2]


def app_raising(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_basics(app, None)  # type: ignore[arg-type]

    @app.post("/things/{thing_id}")
    async def change(thing_id: str) -> dict:
        raise exc

    return app


async def post(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/things/abc")


@pytest.mark.parametrize(
    "kind,status",
    [
        ("invalid", 422),
        ("conflict", 409),
        ("gone", 410),
        ("not_found", 404),
        ("forbidden", 403),
        ("unauthorized", 401),
    ],
)
async def test_each_kind_of_refusal_gets_its_status_and_the_shared_body(
    kind: str, status: int
) -> None:
    got = await post(app_raising(Refused("group_not_active", "This group is paused.", "g", kind)))  # type: ignore[arg-type]
    assert got.status_code == status
    assert got.json() == {
        "error": "group_not_active",
        "message": "This group is paused.",
        "field": "g",
    }


async def test_a_refusal_without_kind_or_field_is_invalid_input() -> None:
    got = await post(app_raising(Refused("too_long", "Keep it under 2,000 characters.")))
    assert got.status_code == 422
    assert got.json() == {
        "error": "too_long",
        "message": "Keep it under 2,000 characters.",
        "field": None,
    }


async def test_the_deprecated_api_error_answers_as_before() -> None:
    got = await post(app_raising(ApiError(409, "not_in_queue", "Not in the queue.")))
    assert (got.status_code, got.json()["error"]) == (409, "not_in_queue")
    rare = await post(app_raising(ApiError(429, "too_many", "Slow down.", "name")))
    assert rare.status_code == 429 and rare.json()["field"] == "name"
    # a page that catches Refused also catches what a not-yet-moved service raises
    assert isinstance(ApiError(404, "not_found", "x"), Refused)
    assert ApiError(404, "not_found", "x").kind == "not_found"


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        Refused("x", "y", kind="teapot")  # type: ignore[arg-type]


def test_the_refusal_type_knows_nothing_of_http() -> None:
    tree = ast.parse((ROOT / "opendeur/errors.py").read_text())
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert imported <= {"__future__", "typing"}
