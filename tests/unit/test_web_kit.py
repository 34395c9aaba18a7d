"""The web kit (opendeur/web.py): module-level routes get the runtime, the page's language, the
one template environment, staff sign-in with its CSRF and signed links as dependencies, and a
refusal reaches the person as a status and a readable answer."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import jinja2
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from opendeur import links, staff, web
from opendeur.errors import Refused
from opendeur.runtime import Runtime
from opendeur.settings import Settings
from tests.routes import thread_hops
from tests.support import SECRET


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "postgresql://nobody:none@127.0.0.1:1/none",  # never connected here
        "nats_url": "nats://127.0.0.1:1",
        "secret_key": SECRET,
        "network_name": "Zelfhulp Eindhoven",
        "network_phone": "040 123 4567",
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def template_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "when.html").write_text(
        "{{ at|deadline(lang) }}|{{ at|moment(lang) }}|{{ at|day(lang) }}|{{ at|clock(lang) }}"
        "|{{ at|stamp }}|{{ network.name }}|{{ network.phone }}|{{ note }}"
    )
    (folder / "form.html").write_text(
        "<h1>{{ title }}</h1>{% if problem %}<p id=err-{{ problem.field }}>{{ problem.message }}"
        "</p>{% endif %}{% if error %}never{% endif %}"
    )
    (folder / "typo.html").write_text("<p>{{ titel }}</p>")
    return tmp_path / "pages.py"


ROUTER = APIRouter(route_class=web.StaffFirstRoute)


@ROUTER.get("/lang", response_class=PlainTextResponse)
async def show_lang(lang: web.Lang, settings: web.SettingsDep) -> str:
    return f"{lang} {settings.network_name}"


@ROUTER.get("/team", response_class=PlainTextResponse)
async def team_api(who: Annotated[staff.Staff, Depends(web.staff_user("teamlid"))]) -> str:
    return who.staff_id


@ROUTER.get("/api/v1/team/{item}", tags=["staff"], response_class=PlainTextResponse)
async def team_item(
    item: int, who: Annotated[staff.Staff, Depends(web.staff_user("teamlid"))]
) -> str:
    return f"{who.staff_id} {item}"


@ROUTER.get("/triage", response_class=HTMLResponse)
async def triage(
    request: Request, who: Annotated[staff.Staff, Depends(web.staff_page("teamlid"))]
) -> str:
    return f'<form><input name="csrf" value="{web.csrf_token(request, who)}"></form>'


@ROUTER.post("/triage/close", tags=["staff"])
async def close(post: Annotated[web.StaffForm, Depends(web.staff_form("teamlid"))]) -> Response:
    if post.form.get("reason") == "":
        raise Refused("missing_field", "Choose one of the reasons.", "reason")
    return RedirectResponse("/triage", 303)


@ROUTER.get("/c/{token}", response_class=PlainTextResponse)
async def contact(link: Annotated[dict, Depends(web.SignedLink("contact", "c"))]) -> str:
    return link["c"]


def dead_page(_request: Request, lang: str, reason: str) -> Response:
    return HTMLResponse(f"<p>{lang} {reason}</p>", status_code=410 if reason == "expired" else 403)


@ROUTER.get("/g/{token}", response_class=PlainTextResponse)
async def group(
    link: Annotated[dict, Depends(web.SignedLink("group", "g", "c", dead=dead_page))],
) -> str:
    return f"{link['g']} {link['c']}"


def make_app(**overrides: Any) -> tuple[FastAPI, Runtime]:
    rt = Runtime("routing", settings(**overrides))
    app = rt.app(title="kit", description="the web kit under test")
    staff.install(rt, app)
    app.include_router(ROUTER)
    return app, rt


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app, _rt = make_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as c:
        yield c


async def sign_in(c: httpx.AsyncClient, *roles: str, who: str = "st-1") -> None:
    key = staff.signing_key(settings())
    c.cookies.set("od_staff_state_routing", "this-browser", path="/staff/accept")
    state = staff.state_hash("this-browser")
    assertion = staff.issue(key, who, list(roles), "routing", time.time(), state=state)
    got = await c.get("/staff/accept", params={"assertion": assertion, "next": "/triage"})
    assert got.status_code == 303 and "od_staff_routing" in got.cookies


def test_the_runtime_is_on_the_app_for_module_level_routes() -> None:
    app, rt = make_app()
    assert app.state.runtime is rt


@pytest.mark.parametrize(
    "query,accept,expected",
    [
        ("en", "nl-NL,nl;q=0.9", "en"),
        ("nl", "en-GB", "nl"),
        (None, "en-GB,en;q=0.9,nl;q=0.8", "en"),
        (None, "fr-FR,fr;q=0.9,en;q=0.5,nl;q=0.4", "en"),
        (None, "nl;q=0.5,en;q=0.9", "en"),
        (None, "de-DE", "nl"),
        (None, None, "nl"),
        ("xx", "en", "en"),
        (None, "en;q=abc", "nl"),
    ],
)
def test_the_page_language_is_the_query_then_the_browser_then_dutch(
    query: str | None, accept: str | None, expected: str
) -> None:
    assert web.pick_lang(query, accept) == expected


async def test_lang_and_settings_are_dependencies(client: httpx.AsyncClient) -> None:
    got = await client.get("/lang", headers={"accept-language": "en-US"})
    assert got.text == "en Zelfhulp Eindhoven"
    got = await client.get("/lang?lang=nl", headers={"accept-language": "en-US"})
    assert got.text == "nl Zelfhulp Eindhoven"


def test_one_template_environment_with_amsterdam_time_and_the_network(
    template_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = web.templates(str(template_dir))
    assert env is web.templates(str(template_dir))  # one per directory
    assert env is web.templates(str(template_dir.with_name("forms.py")))  # beside it: the same
    winter = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)  # 15.00 in Amsterdam
    monkeypatch.setenv("OPENDEUR_NETWORK_NAME", "Netwerk Helmond")
    monkeypatch.delenv("OPENDEUR_NETWORK_PHONE", raising=False)
    from opendeur.settings import get_settings

    get_settings.cache_clear()
    try:
        nl = env.get_template("when.html").render(at=winter, lang="nl", note="<b>")
        en = env.get_template("when.html").render(at=winter, lang="en", note="x")
    finally:
        get_settings.cache_clear()
    assert nl == (
        "uiterlijk woensdag 2 december, 15.00 uur|woensdag 2 december, 15.00 uur|"
        "woensdag 2 december|15.00 uur|2 dec 2026, 15.00 uur|Netwerk Helmond|None|&lt;b&gt;"
    )
    assert en.startswith("by Wednesday 2 December, 3 pm|Wednesday 2 December, 3 pm|")
    # a render may name the runtime's own network instead of the environment's settings
    html = env.get_template("when.html").render(
        at=winter, lang="nl", note="", network=web.network(settings())
    )
    assert html.endswith("|Zelfhulp Eindhoven|040 123 4567|")


def test_a_missing_variable_fails_when_printed_but_may_be_tested(template_dir: Path) -> None:
    env = web.templates(str(template_dir))
    assert env.get_template("form.html").render(title="Vraag") == "<h1>Vraag</h1>"
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("typo.html").render(title="Vraag")
    lenient = web.templates(str(template_dir), strict=False)
    assert lenient.get_template("typo.html").render() == "<p></p>"


def test_a_refused_form_is_shown_again_with_its_message_and_status(template_dir: Path) -> None:
    env = web.templates(str(template_dir))
    refused = Refused("too_long", "Houd het onder 2.000 tekens.", "story")
    got = web.refused_page(env, "form.html", refused, title="Uw vraag")
    assert got.status_code == 422
    assert got.headers["cache-control"] == "no-store"
    assert got.body.decode() == "<h1>Uw vraag</h1><p id=err-story>Houd het onder 2.000 tekens.</p>"
    gone = Refused("gone", "Deze vraag is al gesloten.", kind="conflict")
    assert web.refused_page(env, "form.html", gone, title="x").status_code == 409


async def test_a_staff_api_answers_401_then_403_then_the_person(
    client: httpx.AsyncClient,
) -> None:
    nobody = await client.get("/team")
    assert nobody.status_code == 401 and nobody.json()["error"] == "unauthorized"
    await sign_in(client, "coordinator")
    wrong = await client.get("/team")
    assert wrong.status_code == 403 and wrong.json()["error"] == "forbidden"
    client.cookies.clear()
    await sign_in(client, "teamlid", who="st-42")
    ok = await client.get("/team")
    assert (ok.status_code, ok.text) == (200, "st-42")


async def test_a_machine_token_is_no_person() -> None:
    token = "machine-token-for-the-kit-test"
    digest = hashlib.sha256(token.encode()).hexdigest()
    app, _rt = make_app(machine_tokens=f"reports:audit-read:{digest}")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as c:
        valid = {"authorization": f"Bearer {token}"}
        assert (await c.get("/team", headers=valid)).status_code == 403
        assert (
            await c.post("/triage/close", headers=valid, data={"reason": "x"})
        ).status_code == 403
        wrong = {"authorization": "Bearer not-a-token"}
        assert (await c.get("/team", headers=wrong)).status_code == 401
        assert (await c.post("/triage/close", headers=wrong, data={})).status_code == 401


async def test_a_staff_route_answers_401_before_reading_any_parameter(
    client: httpx.AsyncClient,
) -> None:
    got = await client.get("/api/v1/team/not-a-number")
    assert got.status_code == 401  # not 422: the parameter was never read
    assert got.json()["error"] == "unauthorized"
    bad_token = await client.get(
        "/api/v1/team/not-a-number", headers={"authorization": "Bearer nope"}
    )
    assert bad_token.status_code == 401
    await sign_in(client, "teamlid")
    assert (await client.get("/api/v1/team/not-a-number")).status_code == 422
    assert (await client.get("/api/v1/team/7")).text == "st-1 7"


async def test_a_staff_page_hands_off_to_the_sign_in_or_says_no_access(
    client: httpx.AsyncClient,
) -> None:
    handoff = await client.get("/triage?x=1")
    assert handoff.status_code == 303
    assert handoff.headers["location"].startswith("http://127.0.0.1:8080/staff/handoff?")
    assert "to=routing" in handoff.headers["location"]
    await sign_in(client, "rapportage")
    refused = await client.get("/triage")
    assert refused.status_code == 403 and "Geen toegang" in refused.text


async def test_a_staff_form_post_needs_its_csrf_token_and_refuses_readably(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/triage/close", data={"reason": "spam"})).status_code == 401
    await sign_in(client, "teamlid")
    page = await client.get("/triage")
    token = page.text.split('value="')[1].split('"')[0]
    forged = await client.post("/triage/close", data={"reason": "spam", "csrf": "0" * 64})
    assert forged.status_code == 403 and forged.json()["error"] == "csrf_failed"
    empty = await client.post("/triage/close", data={"reason": "", "csrf": token})
    assert empty.status_code == 422
    assert empty.json() == {
        "error": "missing_field",
        "message": "Choose one of the reasons.",
        "field": "reason",
    }
    done = await client.post("/triage/close", data={"reason": "spam", "csrf": token})
    assert (done.status_code, done.headers["location"]) == (303, "/triage")


async def test_a_signed_link_gives_its_data_or_a_readable_refusal(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings()
    good = links.sign(s, "contact", {"c": "contact-7"})
    assert (await client.get(f"/c/{good}")).text == "contact-7"
    forged = await client.get(f"/c/{good[:-4]}AAAA")
    assert forged.status_code == 403 and forged.json()["error"] == "link_invalid"
    other_purpose = links.sign(s, "group", {"g": "g1", "c": "contact-7"})
    assert (await client.get(f"/c/{other_purpose}")).status_code == 403
    group_link = (await client.get(f"/g/{other_purpose}", headers={"accept-language": "en"})).text
    assert group_link == "g1 contact-7"
    dead = await client.get(f"/g/{good}", headers={"accept-language": "en"})
    assert (dead.status_code, dead.text) == (403, "<p>en invalid</p>")
    issued = time.time()
    monkeypatch.setattr(links.time, "time", lambda: issued + 8 * 24 * 3600)
    expired = await client.get(f"/c/{good}")
    assert expired.status_code == 410 and expired.json()["error"] == "link_expired"
    expired_page = await client.get(f"/g/{other_purpose}")
    assert (expired_page.status_code, expired_page.text) == (410, "<p>nl expired</p>")
    assert "contact-7" not in expired.text


async def test_a_page_answer_from_a_dependency_is_sent_as_it_is() -> None:
    app, _rt = make_app()

    def closed(_request: Request) -> None:
        raise web.PageAnswer(HTMLResponse("<p>Gesloten</p>", status_code=410))

    @app.get("/closed", dependencies=[Depends(closed)])
    async def never() -> str:
        raise AssertionError("the route ran")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        got = await c.get("/closed")
    assert (got.status_code, got.text) == (410, "<p>Gesloten</p>")
    assert got.headers["x-frame-options"] == "DENY"  # the basics still apply


class LookedUpGate:
    """A gate that looks the person up (as intake's server-side session would): async current."""

    def __init__(self, inner: staff.StaffGate) -> None:
        self.inner = inner

    async def current(self, request: Request) -> staff.Staff | None:
        return self.inner.current(request)

    def handoff(self, request: Request) -> Response:
        return self.inner.handoff(request)

    def refused(self, who: staff.Staff) -> Response:
        return self.inner.refused(who)

    def csrf(self, who: staff.Staff) -> str:
        return self.inner.csrf(who)

    def csrf_ok(self, who: staff.Staff, given: str) -> bool:
        return self.inner.csrf_ok(who, given)


async def test_a_gate_that_looks_the_person_up_is_awaited() -> None:
    app, rt = make_app()
    assert isinstance(rt.staff, staff.StaffGate)
    rt.staff = LookedUpGate(rt.staff)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as c:
        assert (await c.get("/api/v1/team/x")).status_code == 401
        await sign_in(c, "teamlid", who="st-9")
        assert (await c.get("/team")).text == "st-9"
        assert (await c.get("/api/v1/team/3")).text == "st-9 3"
        assert (await c.get("/triage")).status_code == 200
        with pytest.raises(TypeError, match="asynchronous"):
            bare = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
            rt.require(bare, None, "teamlid")


async def test_every_page_gets_the_networks_own_colour_as_a_stylesheet() -> None:
    """OPENDEUR_NETWORK_COLOUR reaches every service's pages through /network.css (the CSP
    allows no inline style); each service's base template links it after its own CSS."""
    app, _rt = make_app(network_colour="#7A1F5C")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8081") as c:
        got = await c.get("/network.css")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/css")
    assert got.text == ":root { --brand: #7a1f5c; --accent: #7a1f5c; }\n"
    services = Path(__file__).resolve().parents[2] / "services"
    bases = sorted(services.glob("*/web/templates/*base.html"))
    assert {p.parts[-4] for p in bases} == {"intake", "routing", "notify", "audit"}
    link = '<link rel="stylesheet" href="/network.css">'
    kit = Path(web.__file__).parent / "templates" / "staff_page.html"
    assert link in kit.read_text()  # the one staff layout every staff base extends
    for base in bases:
        text = base.read_text()
        assert link in text or '{% extends "staff_page.html" %}' in text, base


@pytest.mark.parametrize(
    ("given", "why"),
    [("blue", "like #205080"), ("#2050", "like #205080"), ("#ffbf47", "too light")],
)
def test_a_network_colour_that_is_no_colour_or_too_light_is_refused(given: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        settings(network_colour=given)


# -- no thread hop per request ---------------------------------------------------------------


def test_the_hop_finder_finds_a_plain_def_dependency_and_endpoint() -> None:
    def plain(request: Request) -> str:
        return "x"

    async def awaited(request: Request) -> str:
        return "x"

    app = FastAPI()

    @app.get("/a")
    async def a(x: str = Depends(plain), y: str = Depends(awaited)) -> str:
        return x + y

    @app.get("/b")
    def b() -> str:
        return "b"

    assert thread_hops(app) == [
        "/a: dependency test_the_hop_finder_finds_a_plain_def_dependency_and_endpoint.<locals>.plain",
        "/b: endpoint test_the_hop_finder_finds_a_plain_def_dependency_and_endpoint.<locals>.b",
    ]


@pytest.mark.parametrize("service", ["intake", "routing", "notify", "audit"])
def test_no_route_of_a_service_runs_in_a_worker_thread(service: str, tmp_path: Path) -> None:
    """Every endpoint and dependency of the four apps is awaited on the event loop (measured: two
    such hops on intake's POST, 5 % of its samples in the bench's profile)."""
    import json
    import os
    import subprocess
    import sys

    from opendeur.cli import DOCUMENT_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env.update(DOCUMENT_ENV, OPENDEUR_DATA_DIR=str(tmp_path), OPENDEUR_LOG_LEVEL="WARNING")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    code = (
        "import importlib, json\n"
        "from tests.routes import routes, thread_hops\n"
        f"app = importlib.import_module('services.{service}.app').app\n"
        "print(json.dumps({'routes': len(list(routes(app.router.routes))),"
        " 'hops': thread_hops(app)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["routes"] >= 10, found  # the walk reached the included routers' routes
    assert found["hops"] == [], found["hops"]
