"""When intake's database is away for a moment, the person keeps what they typed and reads what
to do (try again in a minute; 113/112 if urgent); an API client gets 503 with Retry-After, not 500.
The database outage itself is produced for real by the chaos run (tests/chaos)."""

from __future__ import annotations

import importlib

import httpx
import pytest

from opendeur.settings import get_settings
from services.intake import api

STORY = "Sinds de dood van mijn vader slaap ik slecht"


@pytest.fixture
def database_away(monkeypatch: pytest.MonkeyPatch):
    """Intake's app (its lifespan not run: nothing connects), whose store refuses connections."""
    for name, value in {
        "OPENDEUR_NATS_URL": "nats://127.0.0.1:9",
        "OPENDEUR_DATABASE_URL": "postgresql://owner@127.0.0.1:9/opendeur",
        "OPENDEUR_SECRET_KEY": "unit-test-secret",
        "OPENDEUR_INTAKE_RATE": "off",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    async def refused(*_args, **_kwargs):
        raise ConnectionRefusedError("connect to 127.0.0.1:5432 refused")

    monkeypatch.setattr(api, "accept_question", refused)
    app = importlib.import_module("services.intake.app").app
    yield httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://intake",
    )
    get_settings.cache_clear()


async def test_the_form_keeps_the_story_and_says_what_to_do(database_away) -> None:
    async with database_away as c:
        r = await c.post(
            "/",
            data={
                "for_self": "yes",
                "phone": "06 12345678",
                "story": STORY,
                "share_with_contact": "yes",
                "topic": "rouw",
            },
        )
    assert r.status_code == 503
    assert STORY in r.text and "06 12345678" in r.text
    assert "0800-0113" in r.text and "112" in r.text
    assert "Controleer deze" not in r.text  # not a form mistake


async def test_the_api_answers_503_with_retry_after(database_away) -> None:
    body = {
        "channel": "web",
        "for_self": True,
        "topic": "rouw",
        "story": None,
        "phone": "06 12345678",
        "postcode": "5611",
        "language": "nl",
        "consent": {"share_with_contact": True, "statistics": True},
        "wants_to_start_group": False,
    }
    async with database_away as c:
        r = await c.post("/api/v1/questions", json=body)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "30"
    assert r.json()["error"] == "unavailable"
    assert "12345678" not in r.text
