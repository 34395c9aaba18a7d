"""Each service holds only its own secrets. Attacks with one service's process environment
(/proc/PID/environ of a child of `opendeur up`): log in as another service's database role,
forge a callback link intake accepts, open a question's phone number with an owner's copy of
the table."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import html
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit
from uuid import UUID

import asyncpg
import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from opendeur import links
from opendeur.db import role_name
from opendeur.keys import Envelope, KeyringError, role_password, service_keyring
from opendeur.settings import SERVICES, Settings
from tests.security.conftest import SMS_AUTH_HEADER, SMS_URL, UpSystem, environ
from tests.support import LINK, SECRET, question
from tests.support import ROOT as ROOT_DIR

ROOT = Settings(secret_key=SECRET)
PHONE = "06 24681357"


@pytest.fixture(scope="module")
def envs(up_system: UpSystem) -> dict[str, dict[str, str]]:
    children = up_system.children()
    assert set(children) == set(SERVICES), children
    return {name: environ(p.pid) for name, p in children.items()}


@contextlib.contextmanager
def stolen(env: dict[str, str]) -> Iterator[Settings]:
    """The settings the victim process itself would build from that environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def candidates(env: dict[str, str]) -> list[str]:
    """Every OPENDEUR_* value, and every password inside a URL."""
    values = {v for k, v in env.items() if k.startswith("OPENDEUR_") and v}
    for v in list(values):
        for part in v.split(","):
            with contextlib.suppress(ValueError):
                if "://" in part and urlsplit(part).password:
                    values.add(unquote(urlsplit(part).password))
    return sorted(values)


def raw_bytes(value: str) -> list[bytes]:
    """The value as key material: its text, and its base64 or hex decoding."""
    out = [value.encode()]
    for decode in (
        lambda v: base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)),
        lambda v: base64.b64decode(v + "=" * (-len(v) % 4)),
        bytes.fromhex,
    ):
        with contextlib.suppress(ValueError, binascii.Error):
            out.append(decode(value))
    return out


KEY_FIELDS = [f for f in Settings.model_fields if "key" in f or "secret" in f or "token" in f]


def settings_variants(value: str) -> Iterator[Settings]:
    """The value tried in every key setting there is (as the root secret, as a link key...)."""
    for name in KEY_FIELDS:
        with contextlib.suppress(ValueError):
            yield Settings(**{name: value})


def test_no_child_gets_the_root_secret_or_the_owner_url(
    up_system: UpSystem, envs: dict[str, dict[str, str]]
) -> None:
    owner = up_system.pg.url(up_system.database)
    for name, env in envs.items():
        assert "OPENDEUR_SECRET_KEY" not in env, name
        assert "OPENDEUR_SECRET_KEY_FILE" not in env, name
        assert "OPENDEUR_DATABASE_URL" not in env, name
        assert "OPENDEUR_MASTER_KEYS" not in env, name
        assert SECRET not in env.values(), name
        assert owner not in env.values(), name
        assert up_system.pg.password not in "\n".join(env.values()), name
        others = {f"OPENDEUR_{s.upper()}_DATABASE_URL" for s in SERVICES if s != name}
        assert not others & set(env), (name, others & set(env))
        assert env.get(f"OPENDEUR_{name.upper()}_DATABASE_URL"), name
        assert env.get("OPENDEUR_NATS_USER") == name, name
        # The admin token reads audit's whole trail: only audit, which checks it, holds it.
        assert ("OPENDEUR_ADMIN_TOKEN" in env) == (name == "audit"), name
        # The SMS gateway (its URL may carry a key, its header is one): its two senders only,
        # notify (contact persons) and intake (the help-seeker's own confirmation).
        sender = name in ("intake", "notify")
        assert (env.get("OPENDEUR_SMS_URL") == SMS_URL) == sender, name
        assert (env.get("OPENDEUR_SMS_AUTH_HEADER") == SMS_AUTH_HEADER) == sender, name
        assert SMS_AUTH_HEADER.split()[-1] not in "\n".join(env.values()) or sender, name


async def can_login(up_system: UpSystem, role: str, password: str) -> bool:
    try:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=up_system.pg.port,
            user=role,
            password=password,
            database=up_system.database,
            timeout=10,
        )
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    await conn.close()
    return True


@pytest.mark.parametrize("attacker", SERVICES)
async def test_one_services_environment_opens_no_other_database_role(
    up_system: UpSystem, envs: dict[str, dict[str, str]], attacker: str
) -> None:
    env = envs[attacker]
    slots = asyncio.Semaphore(8)
    for victim in (s for s in SERVICES if s != attacker):
        role = role_name(victim)
        assert await can_login(up_system, role, role_password(ROOT, victim))  # the real one works
        tries: set[str] = set()
        for value in candidates(env):
            tries.add(value)
            for s in settings_variants(value):
                with contextlib.suppress(Exception):
                    tries.add(role_password(s, victim))
        with stolen(env) as settings, contextlib.suppress(Exception):
            tries.add(role_password(settings, victim))

        async def attempt(role: str, pw: str) -> bool:
            async with slots:
                return await can_login(up_system, role, pw)

        opened = await asyncio.gather(*(attempt(role, pw) for pw in tries))
        assert not any(opened), f"{attacker}'s environment logs in as {role}"


@pytest.fixture(scope="module")
async def assigned(up_system: UpSystem) -> dict:
    """A question routed to Anna, with the real callback link from her mail."""
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(up_system.url("intake") + "/api/v1/questions", json=question(PHONE))
        assert r.status_code == 202, r.text
        q = r.json()
    mail = await up_system.wait_mail(lambda m: q["reference"] in m.subject, timeout=60)
    q["link"] = LINK.search(mail.text).group(1)
    return q


def forged_tokens(env: dict[str, str], payload: dict) -> set[str]:
    tokens: set[str] = set()

    def sign(settings: Settings) -> None:
        for purpose in ("callback", "contact", "group"):
            with contextlib.suppress(Exception):
                token = links.sign(settings, purpose, payload)
                tokens.update({token, f"{token}.{payload['q']}"})

    with stolen(env) as settings:
        sign(settings)
    for value in candidates(env):
        for s in settings_variants(value):
            sign(s)
        for key in raw_bytes(value):
            for k in (key, key.hex()):
                tokens.add(URLSafeTimedSerializer(k, salt="opendeur:callback").dumps(payload))
    return tokens


@pytest.mark.parametrize("attacker", ["routing", "audit"])
async def test_routing_and_audit_cannot_make_a_working_callback_link(
    up_system: UpSystem, envs: dict[str, dict[str, str]], assigned: dict, attacker: str
) -> None:
    from opendeur.keys import pseudonym

    contact = pseudonym(ROOT, "contact", "anna.rouw@example.org")  # routing's tables hold it
    async with httpx.AsyncClient(timeout=10) as c:
        real = await c.get(assigned["link"])
        assert real.status_code == 200 and PHONE in real.text  # the genuine link opens

        tokens = forged_tokens(envs[attacker], {"q": assigned["question_id"], "c": contact})
        assert tokens
        slots = asyncio.Semaphore(8)

        async def attempt(token: str) -> httpx.Response:
            async with slots:
                return await c.get(f"{up_system.url('intake')}/c/{token}")

        answers = await asyncio.gather(*(attempt(t) for t in tokens))
    opened = [r for r in answers if r.status_code < 400 or PHONE in r.text]
    assert not opened, f"{len(opened)} of {len(tokens)} links forged with {attacker}'s env open"
    assert all(400 <= r.status_code < 500 for r in answers)


async def test_notifys_environment_opens_no_phone_number(
    up_system: UpSystem, envs: dict[str, dict[str, str]], assigned: dict
) -> None:
    owner = await asyncpg.connect(up_system.pg.url(up_system.database))
    try:
        row = await owner.fetchrow(
            "select wrapped_key, phone from intake.question_pii where question_id = $1::uuid",
            assigned["question_id"],
        )
    finally:
        await owner.close()
    assert row is not None
    qid = assigned["question_id"]
    wrapped = row["wrapped_key"]
    if wrapped is None:  # the data key lives in intake's key store: the attacker copies its file
        from opendeur.keystore import open_keystore

        store = open_keystore(Settings(data_dir=up_system.data_dir))
        wrapped = await store.get(UUID(qid))
    assert wrapped
    key = Envelope.for_service(ROOT, "intake").unwrap(wrapped)
    assert Envelope.open(key, row["phone"], f"{qid}:phone")  # the method works with intake's key

    env = envs["notify"]
    rings: list[list[tuple[str, bytes]]] = []
    with stolen(env) as settings:
        with contextlib.suppress(Exception):
            rings.append(service_keyring(settings, "intake"))
    for value in candidates(env):
        for s in settings_variants(value):
            with contextlib.suppress(Exception):
                rings.append(service_keyring(s, "intake"))
        for raw in raw_bytes(value):
            if len(raw) == 32:
                rings.append([(wrapped.split(b":")[0].decode(), raw)])
    assert rings
    intakes = {k for _, k in service_keyring(ROOT, "intake")}
    assert not intakes & {k for ring in rings for _, k in ring}, "notify holds intake's key"
    for ring in rings:
        with pytest.raises(KeyringError):
            Envelope(ring).unwrap(wrapped)


async def test_the_contacts_overview_still_opens_her_callback(
    up_system: UpSystem, assigned: dict
) -> None:
    """Routing, holding no callback key, builds the overview's link from the contact's own
    overview link; intake accepts it once she has set and entered her PIN, and only for a
    question that is hers."""
    from opendeur.keys import pseudonym

    mail = await up_system.wait_mail(lambda m: assigned["reference"] in m.subject)
    overview = re.search(r"(http://127\.0\.0\.1:\d+/contact/([A-Za-z0-9_.\-]+))", mail.text)
    assert overview, "the mail has no overview link"
    async with httpx.AsyncClient(timeout=10) as c:
        page = await c.get(overview.group(1))
        assert page.status_code == 200
        found = re.search(
            r'<a href="([^"]+/c/[^"]+)" class="ref">' + re.escape(assigned["reference"]), page.text
        )
        assert found, "the overview does not list the open callback"
        link = html.unescape(found.group(1))
        assert link.startswith(up_system.url("intake") + "/c/")
        refused = await c.get(link)  # no PIN set: the overview's link opens nothing
        assert refused.status_code == 403 and PHONE not in refused.text
        pin = f"{up_system.url('intake')}/pin/{overview.group(2).split('?')[0]}"
        try:
            r = await c.post(pin, data={"pin": "270461", "repeat": "270461"})
            assert r.status_code == 200, r.text[:300]
            opened = await c.get(link)
            assert opened.status_code == 200 and PHONE in opened.text
            # The same overview link with another question id opens nothing, PIN or not.
            token = link.rsplit("/", 1)[1].split("?")[0].split(".")
            token[2] = UUID(int=UUID(hex=token[2]).int ^ 1).hex
            other = await c.get(f"{up_system.url('intake')}/c/{'.'.join(token)}")
            assert other.status_code >= 400 and PHONE not in other.text
        finally:
            cid = pseudonym(ROOT, "contact", "anna.rouw@example.org")
            done = up_system.opendeur("contacts", "reset-pin", cid)
            assert done.returncode == 0, done.stderr
            assert "PIN cleared" in done.stdout, done.stdout


def test_operator_commands_find_what_they_need_in_the_data_dir(up_system: UpSystem) -> None:
    """Run in the operator's shell with the root secret `up` was given and OPENDEUR_DATA_DIR
    (DESIGN §6), no URL: the CLI reads the embedded parts' addresses that `up` left there (a
    secret `up` generated itself it finds there too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENDEUR_")}
    env["OPENDEUR_DATA_DIR"] = str(up_system.data_dir)
    env["OPENDEUR_SECRET_KEY"] = SECRET
    csv = up_system.data_dir / "groups.csv"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "opendeur", *args],
            env=env,
            cwd=ROOT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )

    imported = run("groups", "import", str(csv))
    assert imported.returncode == 0, imported.stderr
    assert "groups:" in imported.stdout
    listed = run("deadletters", "list")
    assert listed.returncode == 0, listed.stderr
    exported = run("keys", "export", str(up_system.data_dir / "export"))
    assert exported.returncode == 0, exported.stderr
    files = {p.name for p in (up_system.data_dir / "export" / "audit").iterdir()}
    assert files == {"audit_database_url", "nats_password", "admin_token"}
