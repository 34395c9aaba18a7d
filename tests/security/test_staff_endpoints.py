"""Every staff route of every service, as an attacker without a sign-in probes it (401 before any
parameter is read, a page hands off to intake's sign-in) and as staff with odd input (a 4xx,
never a 500). The routes are read from the apps themselves, so a staff route added later is
covered without touching this file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from opendeur.staff import ROLES
from tests.support import ADMIN, ROOT, System, csrf, staff_client

STAFF_TAGS = {"staff", "audit", "reports"}
LISTER = """
import json
from tests.routes import routes as walk

out = []
for service in ("intake", "routing", "notify", "audit"):
    app = __import__(f"services.{service}.app", fromlist=["app"]).app
    for r in walk(app.routes):
        for method in sorted(r.methods - {"HEAD"}):
            out.append({
                "service": service, "method": method, "path": r.path,
                "tags": [str(t) for t in r.tags or ()],
                "query": [p.alias for p in r.dependant.query_params],
                "body": bool(r.dependant.body_params),
            })
print(json.dumps(out))
"""


def all_routes() -> list[dict]:
    """Every route of the four apps, imported (never started) in a process of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env |= {
        "OPENDEUR_NATS_URL": "nats://127.0.0.1:1",
        "OPENDEUR_DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/none",
        "OPENDEUR_SECRET_KEY": "only-for-listing-routes-0123456789abcdef",
    }
    done = subprocess.run(
        [sys.executable, "-c", LISTER], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


ROUTES = all_routes()
STAFF = [r for r in ROUTES if STAFF_TAGS & set(r["tags"])]


def route_id(r: dict) -> str:
    return f"{r['service']} {r['method']} {r['path']}"


def test_the_staff_routes_were_found() -> None:
    found = {route_id(r) for r in STAFF}
    assert "audit GET /api/v1/audit/events" in found
    assert "routing POST /triage/{qid}/assign" in found
    assert "notify PUT /api/v1/contacts/{contact_id}" in found
    assert len(STAFF) >= 12


GARBAGE_QUERY = {
    "after": str(2**70),
    "limit": "-99999999999999999999999",
    "type": "a\x00b",
    "question_id": "not-a-uuid",
    "month": "\x00",
    "since": "x" * 5000,
    "format": "exe",
}
ODD_PATH = ["%00", "x" * 3000, "..%2f..%2fetc", "00000000-0000-0000-0000-00000000000g", "\u202e"]
ODD_QUERIES = [
    {"after": str(2**63)},
    {"after": str(2**70)},
    {"type": "question.received.v1\x00"},
    {"type": "'; drop table events; --"},
    {"limit": str(10**30)},
    {"question_id": "\x00"},
    {"month": "2026-13"},
    {"month": "9999999999-01"},
    {"since": "\x00"},
    {"since": "99999999999d"},
]
ODD_BODIES = [b"", b"{", b"[]", b"null", b'{"status": "\\u0000"}', b"\xff\xfe", b"[" * 5000]


def url_for(system: System, r: dict, fill: str) -> str:
    return system.url(r["service"]) + re.sub(r"\{[^}]+\}", fill, r["path"])


@pytest.mark.parametrize("route", STAFF, ids=route_id)
def test_without_a_credential_a_staff_route_answers_401_first(system: System, route: dict) -> None:
    url = url_for(system, route, "%00" + "x" * 600)
    query = {k: GARBAGE_QUERY.get(k, "\x00") for k in route["query"]}
    attempts = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Cookie": "od_admin=wrong"},
        # The old shared token in its old cookie, and a made-up session cookie of the service.
        {"Cookie": f"od_admin={ADMIN}"},
        {"Cookie": f"od_staff_{route['service']}=eyJzIjoiYWRtaW4iLCJyIjpbImJlaGVlcmRlciJdfQ.x.y"},
    ]
    for headers in attempts:
        r = httpx.request(
            route["method"],
            url,
            params=query,
            content=b"{not json" if route["method"] != "GET" else None,
            headers={"Content-Type": "application/json", **headers},
            timeout=20,
            follow_redirects=False,
        )
        if route["method"] == "GET" and not route["path"].startswith("/api/"):
            # A staff page sends a person to intake's sign-in (by its hand-off) instead.
            assert r.status_code == 303, (r.status_code, r.text[:300])
            location = urlsplit(r.headers["location"])
            intake = urlsplit(system.url("intake"))
            assert (location.netloc, location.path) == (intake.netloc, "/staff/handoff")
            back = parse_qs(location.query)
            assert back["to"] == [route["service"]], back
            assert back["next"][0].startswith("/") and not back["next"][0].startswith("//")
            # No session, only the hand-off's state (its hash goes to intake, which signs it in;
            # /staff/accept takes back only an assertion of this browser's own hand-off).
            cookies = r.headers.get_list("set-cookie")
            assert all(c.startswith("od_staff_state_") for c in cookies), cookies
            assert all("path=/staff/accept" in c.lower() for c in cookies), cookies
        else:
            assert r.status_code == 401, (r.status_code, r.text[:300])
            assert r.json()["error"] == "unauthorized"


@pytest.fixture(scope="module")
async def every_role(system: System) -> AsyncIterator[httpx.Cookies]:
    """The cookies of a person with every role, handed off to routing, notify and audit."""
    c = await staff_client(system, *ROLES)
    try:
        for service in ("routing", "notify", "audit"):
            r = await c.get(
                system.url("intake") + "/staff/handoff", params={"to": service, "next": "/"}
            )
            assert f"od_staff_{service}" in c.cookies, (service, r.status_code, r.url)
        yield c.cookies
    finally:
        await c.aclose()


@pytest.mark.parametrize("route", STAFF, ids=route_id)
def test_with_a_credential_odd_input_is_a_4xx_never_a_500(
    system: System, route: dict, every_role: httpx.Cookies
) -> None:
    # The audit API and reports take the machine token (DESIGN section 6); the other staff
    # routes a signed-in person with every role, so odd input reaches the parameters.
    auth = {"Content-Type": "application/json"}
    if route["service"] == "audit":
        auth["Authorization"] = f"Bearer {ADMIN}"
    requests: list[tuple[str, dict, bytes | None]] = []
    for fill in ODD_PATH if "{" in route["path"] else ["-"]:
        requests.append((url_for(system, route, fill), {}, None))
    base = url_for(system, route, "c-1")
    for query in ODD_QUERIES:
        if set(query) <= set(route["query"]):
            requests.append((base, query, None))
    if route["method"] != "GET":
        requests += [(base, {}, body) for body in ODD_BODIES]
    cookies = None if route["service"] == "audit" else every_role
    with httpx.Client(timeout=20, headers=auth, cookies=cookies) as c:
        for url, query, body in requests:
            with c.stream(route["method"], url, params=query, content=body) as r:
                assert r.status_code < 500, (url[:120], query, body, r.status_code, r.read()[:300])
                if r.status_code >= 400:
                    payload = json.loads(r.read())
                    assert isinstance(payload.get("error"), str), payload


async def test_the_console_signs_out_by_post_with_its_csrf_token_only(system: System) -> None:
    """Audit's sign-out is POST /staff/signout: a link (GET) cannot sign anyone out, nor can a
    cross-site form that carries the person's cookie but not the page's CSRF token."""
    base = system.url("audit")
    person = await staff_client(system, "beheerder")
    try:
        console = await person.get(base + "/")
        assert console.status_code == 200 and str(console.url) == base + "/", console.url
        token = csrf(console.text)
        assert (await person.get(base + "/staff/signout")).status_code == 405
        assert (await person.get(base + "/logout")).status_code in (404, 405)
        cross = await person.post(
            base + "/staff/signout",
            data={"csrf": "0" * 64},
            headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            follow_redirects=False,
        )
        assert cross.status_code == 403, (cross.status_code, cross.text[:300])
        assert "od_staff_audit" not in cross.headers.get("set-cookie", "")
        still = await person.get(base + "/", follow_redirects=False)
        assert still.status_code == 200, "a forged sign-out ended the session"
        async with httpx.AsyncClient() as stranger:  # a cross-site post arrives without the cookie
            bare = await stranger.post(
                base + "/staff/signout",
                headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
            )
        assert bare.status_code == 403, (bare.status_code, bare.text[:300])
        assert "od_staff_audit" not in bare.headers.get("set-cookie", "")

        own = await person.post(
            base + "/staff/signout",
            data={"csrf": token},
            headers={"Origin": base},
            follow_redirects=False,
        )
        assert own.status_code == 200, (own.status_code, own.text[:300])
        assert own.headers["cache-control"] == "no-store"
        assert "od_staff_audit" not in person.cookies
        gone = await person.get(base + "/", follow_redirects=False)
        assert gone.status_code == 303
        assert gone.headers["location"].startswith(system.url("intake") + "/staff/handoff?")
    finally:
        await person.aclose()


PHONE = [
    r
    for r in ROUTES
    if r["service"] == "intake"
    and r["path"].startswith("/phone")
    # The old sign-in addresses send everyone to the one sign-in; logout checks its CSRF.
    and r["path"] not in ("/phone/login", "/phone/password", "/phone/logout")
]


@pytest.mark.parametrize("route", PHONE, ids=route_id)
def test_the_phone_console_sends_a_stranger_to_its_login_first(system: System, route: dict) -> None:
    """The volunteers' console: without a live session every page and form post goes to the
    login page before anything sent is read, whatever cookie or fields come with it."""
    assert PHONE, "no phone-console routes found"
    for cookie in (None, "garbage", "eyJzaWQiOiJ4IiwidSI6ImFubmEifQ.forged.sig"):
        r = httpx.request(
            route["method"],
            system.url("intake") + route["path"],
            data={"csrf": "\x00" * 64, "phone": "06" + " " * 5000, "topic": "x" * 10_000},
            cookies={"od_staff_in": cookie} if cookie else None,
            timeout=20,
            follow_redirects=False,
        )
        assert r.status_code == 303, (r.status_code, r.text[:300])
        assert r.headers["location"].startswith("/staff/login")
