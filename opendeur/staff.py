"""Staff sign-in across services: intake signs short assertions (Ed25519), the others verify them.

A person signs in once at intake (services/intake/web/staff.py). A staff page on routing, audit or
notify without a valid staff cookie of its own answers 303 to intake's /staff/handoff, which checks
its server-side session and sends the browser back to <service>/staff/accept with an assertion:
who (a pseudonymous staff id), which roles, for which service, valid 60 s and accepted once. The
service holds only the public key, so it can check an assertion but never make one. It then sets
its own short session cookie (10 minutes, signed with a key that lives only in that process), and
hands off again when it runs out. Disabling an account or changing its roles ends its sessions
here within moments: intake publishes staff.acted (account_change, target_staff_id), every
process with a gate listens on that subject (a plain NATS subscription, so each replica hears it)
and refuses the person's cookies issued before; the 10 minutes are the bound should it miss one
(broker down). Machine clients use bearer tokens with a scope instead (runtime.py)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from contracts.events import StaffActed, decode
from opendeur.keys import MissingSecret, decode_key, encode_key, purpose_key
from opendeur.settings import Settings

if TYPE_CHECKING:
    from opendeur.runtime import Runtime

ROLES = ("telefoonvrijwilliger", "teamlid", "coordinator", "beheerder", "rapportage")
ROLE_LABELS = {
    "telefoonvrijwilliger": "Telefoonvrijwilliger",
    "teamlid": "Teamlid",
    "coordinator": "Coördinator",
    "beheerder": "Beheerder",
    "rapportage": "Rapportage",
}
AUDIENCES = ("routing", "audit", "notify")
ASSERTION_TTL = 60
SESSION_TTL = 600
# Per service: cookies do not keep ports apart, and each service signs its own.
COOKIE = "od_staff_{service}"
# The hand-off's `state` (as OAuth's): a random value in this browser's cookie, its hash in the
# assertion, so an assertion opens a session only in the browser that asked for it.
STATE_COOKIE = "od_staff_state_{service}"
STATE_TTL = 900
STATE_HASH = re.compile(r"[0-9a-f]{64}")
# Intake's own: the id of the one server-side staff session (sign-in, phone console, hand-off).
INTAKE_COOKIE = "od_staff_in"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_DOMAIN = b"opendeur-staff/v1:"


class AssertionInvalid(Exception):
    pass


@dataclass(frozen=True)
class Staff:
    """A signed-in person as a service sees them: a pseudonymous id and roles; `name` is her
    sign-in name, shown only in the staff header (never in an event, log or trail)."""

    staff_id: str
    roles: frozenset[str]
    nonce: str = field(default="", repr=False)  # the CSRF token's seed
    name: str = field(default="", repr=False)  # a repr that reaches a log names no one

    def has(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


def csrf_token(key: bytes, session_id: str) -> str:
    """The one CSRF scheme of every staff session: an HMAC of the session's id (or nonce) under a
    key only the serving process holds, so a token is worth nothing in another session."""
    return hmac.new(key, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()


def csrf_matches(key: bytes, session_id: str, given: str) -> bool:
    """Whether a form's `csrf` field is this session's token (constant time)."""
    expected = csrf_token(key, session_id).encode()
    return hmac.compare_digest(expected, given.encode("utf-8", "surrogateescape"))


class Gate(Protocol):
    """What the web kit (opendeur.web) asks of a service's staff sign-in: StaffGate below on
    routing, audit and notify; intake's own server-side session may answer the same way
    (`current` may then be a coroutine: the kit awaits it)."""

    def current(self, request: Request) -> Staff | Awaitable[Staff | None] | None: ...

    def handoff(self, request: Request) -> Response: ...

    def refused(self, staff: Staff) -> Response: ...

    def csrf(self, staff: Staff) -> str: ...

    def csrf_ok(self, staff: Staff, given: str) -> bool: ...


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Intake's: OPENDEUR_STAFF_SIGNING_KEY, else derived from intake's own session key (which
    only intake holds), so no other service can compute it."""
    given = settings.staff_signing_key
    if given is not None:
        seed = decode_key(given.get_secret_value(), "OPENDEUR_STAFF_SIGNING_KEY")
    else:
        base = purpose_key(settings, "intake-session")
        seed = hmac.new(base, b"opendeur staff assertion signing", hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def verify_key(settings: Settings) -> Ed25519PublicKey | None:
    """A service's: OPENDEUR_STAFF_VERIFY_KEY; without it, none (staff pages then refuse)."""
    if settings.staff_verify_key:
        return Ed25519PublicKey.from_public_bytes(
            decode_key(settings.staff_verify_key, "OPENDEUR_STAFF_VERIFY_KEY")
        )
    try:
        return signing_key(settings).public_key()
    except MissingSecret:
        return None


def verify_key_setting(settings: Settings) -> str:
    """The public key as OPENDEUR_STAFF_VERIFY_KEY's value (for `opendeur up`, deployments)."""
    raw = signing_key(settings).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return encode_key(raw)


def state_hash(state: str) -> str:
    """What travels in the hand-off's query and the assertion: the state cookie's hash."""
    return hashlib.sha256(b"opendeur-staff-state:" + state.encode()).hexdigest()


def issue(
    key: Ed25519PrivateKey,
    staff_id: str,
    roles: list[str],
    audience: str,
    now: float,
    name: str = "",
    state: str = "",
) -> str:
    """An assertion for `audience`; `state` is the hash the service's hand-off sent along."""
    claims = {
        "sub": staff_id,
        "name": name[:64],  # for the staff header only
        "roles": sorted(roles),
        "aud": audience,
        "iat": round(now, 3),
        "exp": int(now) + ASSERTION_TTL,
        "jti": secrets.token_urlsafe(12),
        "state": state,
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_b64(key.sign(_DOMAIN + body.encode()))}"


def verify(key: Ed25519PublicKey, token: str, audience: str, now: float) -> dict:
    body, _, signature = token.partition(".")
    try:
        key.verify(_unb64(signature), _DOMAIN + body.encode())
        claims = json.loads(_unb64(body))
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        raise AssertionInvalid("invalid") from None
    if not isinstance(claims, dict) or claims.get("aud") != audience:
        raise AssertionInvalid("audience")
    if not isinstance(claims.get("exp"), int) or claims["exp"] < now:
        raise AssertionInvalid("expired")
    roles = claims.get("roles")
    if not isinstance(claims.get("sub"), str) or not isinstance(roles, list):
        raise AssertionInvalid("invalid")
    if not isinstance(claims.get("jti"), str):
        raise AssertionInvalid("invalid")
    return claims


def local_path(next_: str | None, default: str) -> str:
    """`next` only as a path on the same service: no scheme, no host, no `//` or backslash."""
    if (
        not next_
        or not next_.startswith("/")
        or next_.startswith("//")
        or "\\" in next_
        or any(ord(c) < 0x20 for c in next_)
        or len(next_) > 500
    ):
        return default
    return next_


# Account changes after which a person's sessions on the other services end.
REVOKING = ("disabled", "roles", "password")


def _issued_before(issued: float, revoked_at: float | None) -> bool:
    return revoked_at is not None and issued <= revoked_at


class StaffGate:
    """One service's side of the staff sign-in: the accept route, its cookie, role checks, CSRF."""

    def __init__(self, settings: Settings, service: str) -> None:
        self.service = service
        self.settings = settings
        self.intake = settings.base_url("intake")
        self.secure = settings.base_url(service).startswith("https://")
        self.public = verify_key(settings)
        # Lives only in this process: a restart means one more hand-off, nothing else.
        self._key = secrets.token_bytes(32)
        self._signer = URLSafeTimedSerializer(self._key.hex(), salt=f"opendeur:staff:{service}")
        self._used: dict[str, float] = {}
        # staff id -> when its account was disabled or its roles changed (time.time())
        self._revoked: dict[str, float] = {}
        self.cookie = COOKIE.format(service=service)
        self.state_cookie = STATE_COOKIE.format(service=service)

    def revoke(self, staff_id: str, at: float) -> None:
        """End every session of this person issued before `at` (her cookies read as none).
        `at` is never later than now: a future-dated event (a forged one, a clock ahead) ends the
        sessions that exist, not the next sign-in's; entries go when no session they could end
        is left (by this process's clock, so no event can wipe the others)."""
        now = time.time()
        self._revoked = {k: v for k, v in self._revoked.items() if v > now - SESSION_TTL}
        self._revoked[staff_id] = max(min(at, now), self._revoked.get(staff_id, 0.0))

    def heard(self, event: StaffActed) -> None:
        """An account change published by intake (disabled, new roles) or a sign-out at intake
        ends the person's sessions here: those intake vouched for before the change happened
        (intake's clock on both sides), so a sign-out heard late never ends the session of a
        sign-in that came after it."""
        at = event.occurred_at.timestamp()
        if event.action == "account_change" and event.change in REVOKING and event.target_staff_id:
            self.revoke(event.target_staff_id, at)
        elif event.action == "signed_out":
            self.revoke(event.staff_id, at)

    def _session(self, request: Request, max_age: int | None) -> dict | None:
        """This request's session cookie if it is ours, well-formed, younger than `max_age` and
        not ended by a revocation heard since intake vouched for it."""
        raw = request.cookies.get(self.cookie)
        if not raw:
            return None
        try:
            data = self._signer.loads(raw, max_age=max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("s"), str):
            return None
        if not isinstance(data.get("t"), (int, float)):
            return None
        if _issued_before(data["t"], self._revoked.get(data["s"])):
            return None
        return data

    def current(self, request: Request) -> Staff | None:
        data = self._session(request, SESSION_TTL)
        if data is None:
            return None
        name = str(data.get("m", ""))
        return Staff(data["s"], frozenset(data.get("r") or ()), str(data.get("n", "")), name)

    def ended(self, request: Request) -> bool:
        """Whether this request's session has been ended since (disabled, new roles, a sign-out,
        a new password) — the rule of `current` without the cookie's age, for an answer that
        outlives the request that opened it (the audit stream)."""
        return self._session(request, None) is None

    def handoff(self, request: Request) -> RedirectResponse:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return self.handoff_to(local_path(path, "/"))

    def refused(self, staff: Staff) -> HTMLResponse:
        """403 for a signed-in person without the role: says so in the staff look (her header,
        the network's colour), names no other page's data."""
        from opendeur import web  # the kit imports this module

        header = web.staff_header(self.settings, staff, "", self.csrf(staff))
        return web.kit_page(
            "staff_refused.html", 403, self.settings, header=header, intake=self.intake, lang="nl"
        )

    def page(self, request: Request, *roles: str) -> Staff | Response:
        """For a page: the signed-in person with one of `roles`, or the response to send."""
        staff = self.current(request)
        if staff is None:
            return self.handoff(request)
        if not staff.has(*roles):
            return self.refused(staff)
        return staff

    def csrf(self, staff: Staff) -> str:
        return csrf_token(self._key, staff.nonce)

    def csrf_ok(self, staff: Staff, given: str) -> bool:
        return csrf_matches(self._key, staff.nonce, given)

    def accept(self, request: Request) -> Response:
        """GET /staff/accept?assertion=...&next=...: a fresh session cookie for this service."""
        token = request.query_params.get("assertion", "")[:2000]
        nxt = local_path(request.query_params.get("next"), "/")
        now = time.time()
        self._used = {j: exp for j, exp in self._used.items() if exp >= now}
        try:
            if self.public is None:
                raise AssertionInvalid("no key")
            claims = verify(self.public, token, self.service, now)
        except AssertionInvalid:
            from opendeur import web  # the kit imports this module

            return web.kit_page(
                "staff_failed.html", 403, self.settings, intake=self.intake, lang="nl"
            )
        if claims["jti"] in self._used:  # one use: a copied URL is worth nothing
            return self.handoff_to(nxt)
        if not self._state_ok(request, claims):  # login CSRF: not this browser's hand-off
            return self._not_yours(nxt)
        self._used[claims["jti"]] = claims["exp"]
        roles = [r for r in claims["roles"] if r in ROLES]
        # When intake vouched for the person (its clock, ms): what a later revocation compares.
        vouched = claims["iat"] if isinstance(claims.get("iat"), (int, float)) else now
        value = self._signer.dumps(
            {
                "s": claims["sub"],
                "r": roles,
                "n": secrets.token_hex(8),
                "t": vouched,
                "m": str(claims.get("name", ""))[:64],
            }
        )
        response = RedirectResponse(nxt, 303, headers=NO_STORE)
        response.set_cookie(
            self.cookie,
            value,
            max_age=SESSION_TTL,
            httponly=True,
            secure=self.secure,
            # Lax, not Strict: the cookie must come with the redirect chain from intake's
            # sign-in (another site when the services have their own domains); every staff
            # form post carries a CSRF token besides.
            samesite="lax",
            path="/",
        )
        self._clear_state(response)
        return response

    def handoff_to(self, nxt: str) -> RedirectResponse:
        """To intake's hand-off, with a fresh state: its value in a cookie of this browser (for
        this service only, HttpOnly, Lax so it comes along on the way back), its hash in the
        query for intake to sign into the assertion."""
        state = secrets.token_urlsafe(24)
        query = f"to={self.service}&next={quote(nxt, safe='')}&state={state_hash(state)}"
        response = RedirectResponse(f"{self.intake}/staff/handoff?{query}", 303, headers=NO_STORE)
        response.set_cookie(
            self.state_cookie,
            state,
            max_age=STATE_TTL,
            httponly=True,
            secure=self.secure,
            samesite="lax",
            path="/staff/accept",
        )
        return response

    def _state_ok(self, request: Request, claims: dict) -> bool:
        """Whether this browser asked for the assertion: its state cookie's hash is the one
        intake signed in. An attacker's own assertion carries his state, never the victim's."""
        state = request.cookies.get(self.state_cookie, "")[:200]
        signed = claims.get("state")
        if not state or not isinstance(signed, str):
            return False
        return hmac.compare_digest(state_hash(state).encode(), signed.encode())

    def _not_yours(self, nxt: str) -> Response:
        """403 for an assertion another browser asked for: nothing set, the state cleared."""
        from opendeur import web  # the kit imports this module

        again = f"{self.intake}/staff/login?{urlencode({'to': self.service, 'next': nxt})}"
        response = web.kit_page("staff_not_yours.html", 403, again=again, lang="nl")
        response.headers.update(NO_STORE)
        self._clear_state(response)
        return response

    def _clear_state(self, response: Response) -> None:
        response.delete_cookie(
            self.state_cookie, path="/staff/accept", httponly=True, samesite="lax"
        )

    def sign_out(self) -> Response:
        """Ends this service's session; the page says how to end the sign-in at intake too (a
        redirect there would be held by this page's form-action 'self')."""
        from opendeur import web  # the kit imports this module

        response = web.kit_page(
            "staff_signed_out.html", 200, self.settings, intake=self.intake, lang="nl"
        )
        response.delete_cookie(self.cookie, path="/", httponly=True, samesite="lax")
        return response


def make_router(gate: StaffGate) -> APIRouter:
    """A service's /staff/accept (the hand-off's return) and /staff/signout."""
    router = APIRouter(prefix="/staff", include_in_schema=False)

    @router.get("/accept")
    async def accept(request: Request) -> Response:
        return gate.accept(request)

    @router.get("/begin")
    async def begin(request: Request) -> Response:
        """A hand-off that began at intake (after signing in there): start it here, where the
        state cookie can be set, and go back to intake with it."""
        return gate.handoff_to(local_path(request.query_params.get("next"), "/"))

    @router.post("/signout")
    async def signout(request: Request) -> Response:
        staff = gate.current(request)
        form = await request.form()
        # Without a session there is no CSRF token to check: refuse what another site sends
        # (a SameSite=Lax cookie is not sent cross-site, so that post would arrive sessionless).
        cross_site = request.headers.get("sec-fetch-site") == "cross-site"
        if (staff is None and cross_site) or (
            staff is not None and not gate.csrf_ok(staff, str(form.get("csrf", "")))
        ):
            return HTMLResponse("Het formulier was verlopen.", status_code=403, headers=NO_STORE)
        return gate.sign_out()

    return router


def install(rt: Runtime, app: FastAPI) -> StaffGate:
    """Give a service (routing, audit, notify) the staff sign-in: its gate and its routes."""
    gate = StaffGate(rt.settings, rt.service)
    rt.staff = gate
    app.include_router(make_router(gate))
    rt.background.append(("staff-account-changes", lambda: listen_for_account_changes(rt, gate)))
    return gate


async def listen_for_account_changes(rt: Runtime, gate: StaffGate) -> None:
    """Subscribe (plain NATS, this process only) to staff.acted and let the gate end the
    sessions of a disabled or changed account. The client resubscribes after a reconnect."""
    from opendeur import messaging

    await rt.broker_ready.wait()

    async def heard(msg: object) -> None:
        try:
            event = decode(msg.subject, msg.data)  # type: ignore[attr-defined]
        except Exception:
            return
        if isinstance(event, StaffActed):
            gate.heard(event)

    await messaging.connection(rt.broker).subscribe(StaffActed.subject, cb=heard)
