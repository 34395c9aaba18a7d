"""The front door attacked: spoofed X-Forwarded-For, padded phone numbers and postcodes, /metrics
from outside, cached tokens, a volunteer locked out by name (issue 13, "the door")."""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from opendeur.db import make_engine, sessionmaker
from opendeur.embedded import free_port
from services.intake import users
from tests.support import (
    ADMIN,
    LINK,
    ROOT,
    System,
    add_staff,
    csrf,
    login,
    new_volunteer,
    question,
    staff_sign_in,
)

FRONTEND_KEY = "phoneline-" + uuid.uuid4().hex
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex
# A topic no group of the shared system takes: these questions go to the team's queue and
# fill no group's capacity that other tests rely on.
QUIET_TOPIC = "chronische-pijn"


def quiet(**overrides: object) -> dict:
    return question(**{"topic": QUIET_TOPIC, "postcode": None, **overrides})


@dataclass
class Intake:
    """An extra `opendeur serve intake` on the shared system's database and broker, started
    with the environment a test needs (rate limits on, proxies trusted or not)."""

    url: str
    log: Path
    proc: subprocess.Popen


def start_intake(system: System, tmp: Path, **env: str) -> Intake:
    port = free_port()
    log = tmp / f"intake-{port}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "opendeur", "serve", "intake"],
        env={**system.env, "OPENDEUR_INTAKE_PORT": str(port), **env},
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Intake(url, log, proc)
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def stop_intake(intake: Intake) -> None:
    intake.proc.terminate()
    try:
        intake.proc.wait(20)
    except subprocess.TimeoutExpired:
        intake.proc.kill()
        intake.proc.wait(5)


@pytest.fixture(scope="module")
def direct(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """Intake on the open internet: no proxy trusted, 3 questions a minute per address."""
    intake = start_intake(system, tmp_path_factory.mktemp("direct"), OPENDEUR_INTAKE_RATE="3/min")
    yield intake
    stop_intake(intake)


@pytest.fixture(scope="module")
def proxied(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """Intake behind a proxy on 127.0.0.1, with a phone-line frontend that has its own key."""
    digest = hashlib.sha256(FRONTEND_KEY.encode()).hexdigest()
    intake = start_intake(
        system,
        tmp_path_factory.mktemp("proxied"),
        OPENDEUR_INTAKE_RATE="2/min",
        OPENDEUR_TRUSTED_PROXIES="127.0.0.1/32, ::1",
        OPENDEUR_INTAKE_FRONTEND_KEYS=f"phoneline:{digest}:100/min",
        OPENDEUR_METRICS_TOKEN=METRICS_TOKEN,
        OPENDEUR_INTAKE_LOGIN_RATE="3/min",
    )
    yield intake
    stop_intake(intake)


@pytest.fixture(scope="module")
async def sessions(system: System):
    engine = make_engine(system.pg.url(system.database), pool_size=2, schema="intake")
    yield sessionmaker(engine)
    await engine.dispose()


def a_phone() -> str:
    """A fresh valid Dutch mobile number as typed with a long run of spaces."""
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    return "0" + digits[:1] + " " * 300 + digits[1:] + "   "


def assert_no_store(r: httpx.Response) -> None:
    assert r.headers.get("cache-control") == "no-store", (r.request.url, r.headers)
    assert r.headers.get("pragma") == "no-cache", (r.request.url, r.headers)


# --- the rate limit and X-Forwarded-For ----------------------------------------------------------


def test_a_spoofed_forwarded_for_does_not_buy_a_fresh_bucket(direct: Intake) -> None:
    """From a peer no one trusts, every request shares the peer's bucket, whatever it claims."""
    with httpx.Client(base_url=direct.url, timeout=20) as c:
        codes = [
            c.post(
                "/api/v1/questions",
                json=quiet(),
                headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            ).status_code
            for i in range(5)
        ]
    assert codes[:3] == [202, 202, 202]
    assert codes[3:] == [429, 429], codes


def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(proxied: Intake) -> None:
    ip = f"198.51.100.{random.randint(1, 254)}"
    with httpx.Client(base_url=proxied.url, timeout=20) as c:

        def post(addr: str) -> int:
            headers = {"X-Forwarded-For": addr}
            return c.post("/api/v1/questions", json=quiet(), headers=headers).status_code

        assert [post(ip), post(ip), post(ip)] == [202, 202, 429]
        # Another client behind the same proxy is not in that bucket.
        assert post(f"198.51.101.{random.randint(1, 254)}") == 202
        # A client prepending a forged address still lands in its own (rightmost) bucket.
        assert post(f"192.0.2.77, {ip}") == 429


def test_a_trusted_frontend_has_its_own_key_and_limit(proxied: Intake) -> None:
    ip = f"198.51.102.{random.randint(1, 254)}"
    with httpx.Client(base_url=proxied.url, timeout=20) as c:
        headers = {"X-Forwarded-For": ip}
        for _ in range(2):
            assert c.post("/api/v1/questions", json=quiet(), headers=headers).status_code == 202
        assert c.post("/api/v1/questions", json=quiet(), headers=headers).status_code == 429
        # The phone line's frontend posts from the same address with its key: its own bucket.
        keyed = {**headers, "X-Frontend-Key": FRONTEND_KEY}
        for _ in range(4):
            r = c.post("/api/v1/questions", json=quiet(), headers=keyed)
            assert r.status_code == 202, r.text
        # A guessed key is refused outright, not counted as an anonymous client.
        wrong = {**headers, "X-Frontend-Key": FRONTEND_KEY[:-1] + "x"}
        r = c.post("/api/v1/questions", json=quiet(), headers=wrong)
        assert r.status_code == 401 and r.json()["error"] == "invalid_frontend_key"


# --- /metrics -----------------------------------------------------------------------------------


def test_metrics_is_not_public_behind_a_proxy(proxied: Intake) -> None:
    with httpx.Client(base_url=proxied.url, timeout=20) as c:
        r = c.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 401 and "opendeur_" not in r.text
        # Claiming to be loopback through the proxy does not help either.
        r = c.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert r.status_code == 401
        r = c.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        r = c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200 and "opendeur_" in r.text


def test_metrics_with_the_token_or_from_loopback_only(direct: Intake) -> None:
    with httpx.Client(base_url=direct.url, timeout=20) as c:
        # The header is ignored from an untrusted peer; the peer itself is loopback.
        r = c.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 200 and "opendeur_" in r.text
        r = c.get("/metrics", headers={"Authorization": "Bearer guessed"})
        assert r.status_code == 401


# --- what people type: padded phone numbers and postcodes ---------------------------------------


def form_client(system: System) -> httpx.Client:
    return httpx.Client(base_url=system.url("intake"), timeout=20)


def test_a_padded_phone_and_postcode_in_the_web_form_are_accepted(system: System) -> None:
    padded = a_phone()
    with form_client(system) as c:
        form = {
            "for_self": "yes",
            "topic": QUIET_TOPIC,
            "phone": padded,
            "postcode": "  5611" + " " * 400 + "ab ",
            "share_with_contact": "yes",
        }
        r = c.post("/", data=form, follow_redirects=True)
    assert r.status_code == 200, r.text[:300]
    assert re.search(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", r.text), r.text[:500]
    assert_no_store(r)


def test_a_padded_wrong_value_gets_the_forms_own_error_and_keeps_the_input(
    system: System,
) -> None:
    typed = "06 123" + " " * 300 + "4"  # too short, padded past every raw limit
    story = f"mijn verhaal {uuid.uuid4().hex}"
    with form_client(system) as c:
        form = {
            "for_self": "yes",
            "phone": typed,
            "postcode": "56" + " " * 100 + "x",
            "story": story,
            "share_with_contact": "yes",
        }
        r = c.post("/", data=form)
    assert r.status_code == 422, r.text[:300]
    assert 'id="phone-error"' in r.text and 'id="postcode-error"' in r.text
    assert story in r.text  # what the person typed is still there
    assert_no_store(r)


@pytest.mark.parametrize(
    "typed",
    ["+31 6 1234 5678", "0031 (0)6-12.34.56.78", "06\u201312345678", "\t06 1234\n5678"],
)
def test_phone_numbers_as_people_paste_them_through_the_api(system: System, typed: str) -> None:
    r = httpx.post(
        system.url("intake") + "/api/v1/questions",
        json=quiet(phone=typed, postcode=" 5611" + " " * 200 + "AB"),
        timeout=20,
    )
    assert r.status_code == 202, r.text


async def test_a_padded_phone_in_the_phone_console_is_accepted(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    padded = a_phone()
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as c:
        await new_volunteer(c, sessions)
        page = await c.get("/phone")
        form = {
            "csrf": csrf(page.text),
            "language": "nl",
            "consent_read": "yes",
            "for_self": "yes",
            "topic": QUIET_TOPIC,
            "phone": padded,
            "postcode": "5611" + " " * 300 + "AB",
            "share_with_contact": "yes",
        }
        r = await c.post("/phone", data=form)
        assert r.status_code == 303, r.text[:300]  # Post/Redirect/Get
        assert_no_store(r)
        r = await c.get(r.headers["location"])
        assert re.search(r"OD-[A-Z0-9]{4}-[A-Z0-9]{4}", r.text)
        assert_no_store(r)
        form["phone"] = "06" + " " * 300 + "1"
        r = await c.post("/phone", data=form)
        assert r.status_code == 422 and 'id="phone-error"' in r.text


async def test_padded_canaries_never_reach_a_log(
    system: System, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A postcode padded past the model's raw limit (pydantic would quote it as input_value in a
    traceback) and the phone number sent with it reach no log line, through the web form, the
    phone console and the API, and nothing gives a 500."""
    digits = f"6{random.randint(1, 5)}{random.randint(1_000_000, 9_999_999)}"
    pc_canary = "9" + str(random.randint(100, 999))
    padded_pc = pc_canary + " " * 300 + "QQ"
    form = {"for_self": "yes", "phone": "0" + digits, "share_with_contact": "yes"}
    async with httpx.AsyncClient(base_url=system.url("intake"), timeout=20) as c:
        r = await c.post("/", data={**form, "postcode": padded_pc})
        assert r.status_code < 500, r.text[:300]
        r = await c.post(
            "/api/v1/questions",
            json=question(phone="0" + digits + " " * 2000, postcode=padded_pc + " " * 2000),
        )
        assert r.status_code == 422 and digits not in r.text and pc_canary not in r.text
        await new_volunteer(c, sessions)
        page = await c.get("/phone")
        r = await c.post(
            "/phone",
            data={
                **form,
                "csrf": csrf(page.text),
                "consent_read": "yes",
                "postcode": padded_pc + "x",
            },
        )
        assert r.status_code < 500, r.text[:300]
    time.sleep(1.0)  # the services' log lines are written asynchronously
    logs = system.logs()
    assert '"service": "intake"' in logs or "intake" in logs
    assert digits not in logs
    assert pc_canary + " " not in logs and "input_value" not in logs


# --- no-store on everything that carries a token or personal data -------------------------------


def test_tokens_and_personal_data_are_never_cached(system: System) -> None:
    with httpx.Client(base_url=system.url("intake"), timeout=20) as c:
        accepted = c.post("/api/v1/questions", json=quiet())
        assert accepted.status_code == 202
        assert_no_store(accepted)
        body = accepted.json()
        gone = c.delete(
            f"/api/v1/questions/{body['question_id']}",
            headers={"X-Withdraw-Token": body["withdraw_token"]},
        )
        assert gone.status_code == 204
        assert_no_store(gone)
        for path in ("/", "/staff/login"):
            assert_no_store(c.get(path))
        page = c.get(f"/intrekken/{body['question_id']}", params={"token": "x"})
        assert_no_store(page)


async def test_the_callback_page_and_staff_sign_in_are_never_cached(system: System) -> None:
    with httpx.Client(timeout=20) as c:
        accepted = c.post(
            system.url("intake") + "/api/v1/questions", json=question(topic="angst", postcode=None)
        )
        assert accepted.status_code == 202, accepted.text
        ref = accepted.json()["reference"]
        mail = await system.wait_mail(lambda m: ref in m.subject)
        link = LINK.search(mail.text)
        assert link, mail.text
        page = c.get(link.group(1))
        assert page.status_code == 200
        assert_no_store(page)  # the phone number and the story are on it
        # The old sign-in with the shared token is gone: it sets no cookie at all.
        posted = c.post(
            system.url("audit") + "/login", data={"token": ADMIN}, follow_redirects=False
        )
        assert posted.status_code == 405 and "set-cookie" not in posted.headers
        moved = c.get(system.url("audit") + "/login", follow_redirects=False)
        assert moved.status_code == 303 and "set-cookie" not in moved.headers
        assert moved.headers["location"].startswith(system.url("intake") + "/staff/login")
        assert_no_store(moved)
    # The one staff sign-in: every response that sets or ends a session is never cached, and
    # no cookie ever holds a token (only the services' own signed session values).
    async with httpx.AsyncClient(timeout=30) as person:
        name, once = add_staff(system, "beheerder")
        hops: list[httpx.Response] = []

        async def keep(r: httpx.Response) -> None:
            hops.append(r)

        person.event_hooks["response"] = [keep]
        page = await person.get(system.url("intake") + "/staff/login")
        assert_no_store(page)
        await staff_sign_in(person, system.url("intake"), name, once)
        console = await person.get(system.url("audit") + "/", follow_redirects=True)
        assert console.status_code == 200 and str(console.url) == system.url("audit") + "/"
        out = await person.post(
            system.url("audit") + "/staff/signout",
            data={"csrf": csrf(console.text)},
            follow_redirects=False,
        )
        assert out.status_code == 200
        setting = [r for r in hops if r.headers.get_list("set-cookie")]
        assert {urlsplit(str(r.url)).path for r in setting} >= {"/staff/login", "/staff/accept"}
        assert out in setting  # the sign-out ends audit's session
        for r in setting:
            assert_no_store(r)
            for header in r.headers.get_list("set-cookie"):
                assert ADMIN not in header and "od_admin" not in header, header


# --- topics come from the fixed catalogue, also while routing is down ---------------------------


@pytest.fixture(scope="module")
def cut_off(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Intake]:
    """Intake whose routing cannot be reached (nothing listens on its port)."""
    intake = start_intake(
        system,
        tmp_path_factory.mktemp("cut-off"),
        OPENDEUR_ROUTING_PORT=str(free_port()),
        OPENDEUR_INTAKE_RATE="off",
    )
    yield intake
    stop_intake(intake)


def test_with_routing_down_only_catalogue_topics_are_taken(cut_off: Intake) -> None:
    with httpx.Client(base_url=cut_off.url, timeout=20) as c:
        free_text = "mijn-buurman-jan-de-vries-5611ab"  # code-shaped, kept for ever if taken
        r = c.post("/api/v1/questions", json=quiet(topic=free_text))
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "unknown_topic" and free_text not in r.text
        assert c.post("/api/v1/questions", json=quiet()).status_code == 202
        form = c.get("/")
        assert form.status_code == 200 and 'value="chronische-pijn"' in form.text


# --- the phone console's login cannot be used to lock a volunteer out ---------------------------


async def test_flooding_a_volunteers_name_does_not_lock_them_out(
    proxied: Intake, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(
        base_url=proxied.url, timeout=30, headers={"X-Forwarded-For": "198.51.103.7"}
    ) as owner:
        name, password = await new_volunteer(owner, sessions)
        await owner.post("/phone/logout", data={"csrf": csrf((await owner.get("/phone")).text)})
    async with httpx.AsyncClient(
        base_url=proxied.url, timeout=30, headers={"X-Forwarded-For": "203.0.113.66"}
    ) as attacker:
        codes = [(await login(attacker, name, "geraden-" + str(i))).status_code for i in range(6)]
        assert 429 in codes  # the attacker is slowed down ...
    async with httpx.AsyncClient(
        base_url=proxied.url, timeout=30, headers={"X-Forwarded-For": "198.51.103.7"}
    ) as owner:
        r = await login(owner, name, password)
        assert r.status_code == 303, r.text[:300]  # ... the volunteer is not
        assert_no_store(r)
    async with sessions() as s:
        assert (await users.get_user(s, name)) is not None
