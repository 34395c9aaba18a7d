"""Least privilege for staff, tried the way an attacker would: the old shared token as a cookie
or in a login form opens no page, each role is refused what it may not do, a service's own
environment cannot mint a staff sign-in, and the admin token changes no contact's address."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from opendeur import staff as staff_mod
from opendeur.embedded import Postgres
from opendeur.keys import KeyringError, decode_key, own_settings
from opendeur.settings import Settings
from tests.support import (
    ADMIN,
    SECRET,
    System,
    add_staff,
    staff_sign_in,
    start_system,
    stop_system,
)

pytestmark = pytest.mark.timeout(300)
CONTACT = "c-0123456789abcdef"
CI_TOKEN = "ci-job-token-0123456789"
ADDRESS = {"email": "elders@evil.example", "channel": "email", "language": "nl"}


@pytest.fixture(scope="module")
async def plain(tmp_path_factory: pytest.TempPathFactory, pg: Postgres) -> AsyncIterator[System]:
    """A system whose admin token has only its DESIGN §6 meaning, and one scoped machine token."""
    s = start_system(
        tmp_path_factory.mktemp("roles"),
        pg,
        # One scoped machine token (a CI job's group import), stored as its hash; the admin
        # token gets no extra scope here.
        OPENDEUR_MACHINE_TOKENS=f"ci:groups-write:{hashlib.sha256(CI_TOKEN.encode()).hexdigest()}",
    )
    yield s
    stop_system(s)


async def fetch_count(s: System, sql: str) -> int:
    conn = await asyncpg.connect(s.pg.url(s.database))
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def signed_in(s: System, service: str, *roles: str) -> httpx.AsyncClient:
    """A person with these roles, signed in at intake and handed off to `service` (its cookie)."""
    c = httpx.AsyncClient(base_url=s.url(service), timeout=30)
    name, once = add_staff(s, *roles)
    await staff_sign_in(c, s.url("intake"), name, once)
    hop = await c.get(
        s.url("intake") + "/staff/handoff",
        params={"to": service, "next": "/healthz"},
        follow_redirects=True,
    )
    assert hop.status_code == 200 and c.cookies.get(f"od_staff_{service}"), hop.url
    return c


async def test_the_old_shared_token_opens_no_page_for_people(plain: System) -> None:
    for service, page in (("routing", "/triage"), ("audit", "/"), ("audit", "/report")):
        base = plain.url(service)
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            # As the cookie the old /login pages set.
            r = await c.get(page, headers={"Cookie": f"od_admin={ADMIN}"})
            assert r.status_code == 303 and "/staff/handoff" in r.headers["location"], (
                service,
                r.status_code,
            )
            # Through the old login form: no cookie comes back, no page opens.
            r = await c.post("/login", data={"token": ADMIN})
            assert r.status_code in (404, 405) and "set-cookie" not in r.headers, (
                service,
                r.status_code,
            )
            r = await c.get(page)
            assert r.status_code == 303, (service, page)
    # Nor at intake's sign-in, as a password of any name.
    async with httpx.AsyncClient(base_url=plain.url("intake"), timeout=30) as c:
        page = await c.get("/staff/login")
        token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        for name in ("admin", "beheerder", "root"):
            r = await c.post("/staff/login", data={"csrf": token, "name": name, "password": ADMIN})
            assert r.status_code == 401


async def test_the_admin_token_reads_the_trail_but_changes_no_address(plain: System) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(headers=bearer, timeout=30) as c:
        r = await c.get(plain.url("audit") + "/api/v1/audit/verify")
        assert r.status_code == 200
        # Only audit holds the admin token: to notify and routing it is no credential at all.
        r = await c.put(plain.url("notify") + f"/api/v1/contacts/{CONTACT}", json=ADDRESS)
        assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        r = await c.post(
            plain.url("routing") + "/api/v1/groups/online-angst/status", json={"status": "left"}
        )
        assert r.status_code == 401, r.text


async def test_an_operator_is_refused_an_address_change(plain: System) -> None:
    operator = await signed_in(plain, "notify", "beheerder")
    coordinator = await signed_in(plain, "notify", "coordinator")
    try:
        r = await operator.put(f"/api/v1/contacts/{CONTACT}", json=ADDRESS)
        assert r.status_code == 403 and r.json()["error"] == "forbidden", r.text
        r = await coordinator.put(
            f"/api/v1/contacts/{CONTACT}",
            json={"email": "nieuw@example.org", "channel": "email", "language": "nl"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["email"] != "nieuw@example.org"  # read back masked
        # The operator's notify cookie carried to routing is nobody there.
        cookie = operator.cookies.get("od_staff_notify")
        r = httpx.get(
            plain.url("routing") + "/triage", headers={"Cookie": f"od_staff_routing={cookie}"}
        )
        assert r.status_code == 303
    finally:
        await operator.aclose()
        await coordinator.aclose()


async def test_a_report_viewer_sees_only_the_report(plain: System) -> None:
    viewer = await signed_in(plain, "audit", "rapportage")
    try:
        r = await viewer.get("/report")
        assert r.status_code == 200 and "Maandrapport" in r.text
        r = await viewer.get("/report", params={"month": "<script>alert(1)</script>"})
        assert r.status_code == 422 and "Kies een maand" in r.text and "<script>" not in r.text
        assert (await viewer.get("/")).status_code == 403
        for api in ("/api/v1/audit/events", "/api/v1/audit/verify", "/api/v1/audit/stream"):
            r = await viewer.get(api)
            assert r.status_code == 403, api
        r = await viewer.get(plain.url("routing") + "/triage", follow_redirects=True)
        assert r.status_code == 403
    finally:
        await viewer.aclose()


async def test_an_operator_cannot_post_triage_forms(plain: System) -> None:
    operator = await signed_in(plain, "routing", "beheerder")
    try:
        cookie = operator.cookies.get("od_staff_routing")
        assert cookie
        r = await operator.post(
            "/triage/00000000-0000-0000-0000-000000000000/close", data={"reason": "duplicate"}
        )
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    finally:
        await operator.aclose()


def test_what_routing_and_audit_are_given_cannot_sign_anyone_in(plain: System) -> None:
    """Everything `opendeur up` hands routing, audit or notify, tried as the signing key."""
    settings = Settings(
        secret_key=SECRET, admin_token=ADMIN, database_url=plain.env["OPENDEUR_DATABASE_URL"]
    )
    for service in ("routing", "audit", "notify"):
        env = own_settings(settings, service, nats_accounts=True)
        assert "OPENDEUR_STAFF_SIGNING_KEY" not in env and "OPENDEUR_SECRET_KEY" not in env
        assert "OPENDEUR_INTAKE_SESSION_KEY" not in env
        # Every 32-byte value it holds (keys, the public verify key) and a few passwords hashed.
        candidates = [b"\0" * 32]
        for name, value in env.items():
            with contextlib.suppress(KeyringError):
                candidates.append(decode_key(value, name))
            candidates.append(hashlib.sha256(value.encode()).digest())
        for seed in candidates:
            key = Ed25519PrivateKey.from_private_bytes(seed)
            forged = staff_mod.issue(key, "st-forged", ["beheerder"], service, time.time())
            r = httpx.get(
                plain.url(service) + "/staff/accept", params={"assertion": forged, "next": "/"}
            )
            assert r.status_code == 403 and "set-cookie" not in r.headers, service
    # An unsigned assertion with the right shape is refused too.
    body = staff_mod._b64(
        json.dumps(
            {"sub": "x", "roles": ["beheerder"], "aud": "audit", "exp": 2**40, "jti": "j"}
        ).encode()
    )
    r = httpx.get(plain.url("audit") + "/staff/accept", params={"assertion": body + "."})
    assert r.status_code == 403 and "set-cookie" not in r.headers


async def test_a_scoped_machine_token_does_its_one_job(plain: System) -> None:
    ci = {"Authorization": f"Bearer {CI_TOKEN}"}
    async with httpx.AsyncClient(headers=ci, timeout=30) as c:
        url = plain.url("routing") + "/api/v1/groups/rouwgroep-eindhoven/status"
        assert (await c.post(url, json={"status": "paused"})).status_code == 204
        assert (await c.post(url, json={"status": "active"})).status_code == 204
        # Attributed like a person's change: to the machine client (before: no staff.acted).
        deadline = time.monotonic() + 30
        sql = (
            "select count(*) from audit.events where type = 'staff.acted.v1' and "
            "record->>'action' = 'group_status' and record->>'staff_id' = 'token.ci' "
            "and record->>'group_id' = 'rouwgroep-eindhoven'"
        )
        while await fetch_count(plain, sql) < 2:
            assert time.monotonic() < deadline, "the machine's pause is not in the trail"
            await asyncio.sleep(0.3)
        r = await c.get(plain.url("audit") + "/api/v1/audit/events")
        assert r.status_code == 403
        r = await c.put(plain.url("notify") + f"/api/v1/contacts/{CONTACT}", json=ADDRESS)
        assert r.status_code == 403
        # A machine token opens no page, and the hash in the setting is no token.
        r = await c.get(plain.url("routing") + "/triage")
        assert r.status_code == 303 and "/staff/handoff" in r.headers["location"]
    digest = hashlib.sha256(CI_TOKEN.encode()).hexdigest()
    r = httpx.post(
        plain.url("routing") + "/api/v1/groups/rouwgroep-eindhoven/status",
        json={"status": "left"},
        headers={"Authorization": f"Bearer {digest}"},
    )
    assert r.status_code == 401


def test_assertions_are_refused_when_altered_expired_or_for_another_service() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    now = time.time()
    good = staff_mod.issue(key, "st-1", ["teamlid"], "routing", now)
    assert staff_mod.verify(public, good, "routing", now)["roles"] == ["teamlid"]
    with pytest.raises(staff_mod.AssertionInvalid):
        staff_mod.verify(public, good, "audit", now)  # another audience
    with pytest.raises(staff_mod.AssertionInvalid):
        staff_mod.verify(public, good, "routing", now + staff_mod.ASSERTION_TTL + 1)
    body, _, signature = good.partition(".")
    claims = json.loads(staff_mod._unb64(body))
    claims["roles"] = ["beheerder"]  # a raised role, the signature kept
    raised = staff_mod._b64(json.dumps(claims, separators=(",", ":")).encode())
    with pytest.raises(staff_mod.AssertionInvalid):
        staff_mod.verify(public, f"{raised}.{signature}", "routing", now)
    for junk in ("", ".", "a.b", "x" * 3000, good + "x"):
        with pytest.raises(staff_mod.AssertionInvalid):
            staff_mod.verify(public, junk, "routing", now)


def test_next_is_a_local_path_or_the_default() -> None:
    for evil in ("https://evil.example/", "//evil.example", "/\\evil", "javascript:x", "\t/x"):
        assert staff_mod.local_path(evil, "/") == "/", evil
    assert staff_mod.local_path("/triage?x=1", "/") == "/triage?x=1"
    assert staff_mod.local_path("/a\nSet-Cookie: x", "/") == "/"


def test_machine_token_entries_that_are_not_well_formed_grant_nothing() -> None:
    from opendeur.runtime import machine_tokens

    good = "a" * 64
    parsed = machine_tokens(f"ci:groups-write+audit-read:{good}, bad::{good},x:y:short,:s:{good}")
    assert parsed == [("ci", frozenset({"groups-write", "audit-read"}), good)]
