"""The phone-line console: volunteers sign in (the one staff sign-in, web/staff.py, with the
role telefoonvrijwilliger), read the script aloud while entering a caller's question, and
withdraw a question a caller asks to withdraw (by reference and phone number).

A signed-in session lives in the database (users.phone_sessions): logout, an idle timeout
(OPENDEUR_PHONE_SESSION_IDLE), the absolute lifetime, a new password and `opendeur users
disable` end it at once. Every form that
changes something answers with a redirect (Post/Redirect/Get): a reload or Back never enters a
question twice."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from contracts.events import REFERENCE_PATTERN
from opendeur import deadlines, timefmt, web
from opendeur.errors import Refused
from opendeur.keys import purpose_key
from opendeur.logging import get_logger
from opendeur.runtime import Runtime
from opendeur.settings import parse_duration
from services.intake import api, users, validation
from services.intake.consent import PHONE_CONSENT_VERSION, consent_text
from services.intake.ratelimit import Limiter, parse_rate
from services.intake.web import forms
from services.intake.web.deps import Lang, Rt, Topics
from services.intake.web.i18n import t
from services.intake.web.pages import SUBMISSIONS, local, render

log = get_logger(component="intake.phone")

STAFF = "od_staff_in"  # the one staff sign-in's cookie (web/staff.py)
ROLE = "telefoonvrijwilliger"
# What the done page reads aloud travels in a signed cookie bound to the volunteer's session:
# a reload shows the same reference (the caller may not have written it down yet), the next
# call's console clears it, and it never is in an address.
DONE_COOKIE = "od_phone_done"
DONE_TTL = 900
REFERENCE = re.compile(REFERENCE_PATTERN)


@dataclass(frozen=True)
class PhoneSession:
    """Before login a random id for the login form's CSRF token; after login the id of a
    server-side session (the database keeps only its hash) and the user's name."""

    sid: str
    user: str | None


class SessionCodec:
    """Signed cookie (itsdangerous) holding a session id and, once logged in, the user name."""

    def __init__(self, key: bytes, max_age: int = 12 * 3600) -> None:
        self._key = key
        self.max_age = max_age
        self._signer = URLSafeTimedSerializer(key.hex(), salt="opendeur:phone-session")

    def dump(self, s: PhoneSession) -> str:
        return self._signer.dumps({"sid": s.sid, "u": s.user})

    def load(self, cookie: str | None) -> PhoneSession | None:
        if not cookie:
            return None
        try:
            data = self._signer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            return None
        user = data.get("u")
        return PhoneSession(data["sid"], user if isinstance(user, str) else None)

    def csrf(self, s: PhoneSession) -> str:
        return hmac.new(self._key, b"csrf:" + s.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, s: PhoneSession | None, given: str) -> bool:
        return s is not None and hmac.compare_digest(
            self.csrf(s).encode(), given.encode("utf-8", "surrogateescape")
        )


@dataclass(frozen=True)
class SignIn:
    """What the phone console's login and the staff sign-in (web/staff.py) share: one session
    codec and key, one set of login limits (a name gets its tries once, not once per door), the
    session's lifetimes."""

    lifetime: timedelta
    idle: timedelta
    codec: SessionCodec
    # Tries per name from one address, and per address: a stranger who floods a volunteer's
    # name from elsewhere fills only their own bucket, never locks the volunteer out.
    by_name: Limiter
    by_address: Limiter
    secure: bool


_sign_ins: dict[int, SignIn] = {}


def sign_in(rt: Runtime) -> SignIn:
    """The one SignIn of this runtime (the console and the staff sign-in ask for it)."""
    got = _sign_ins.get(id(rt))
    if got is None:
        lifetime = parse_duration(rt.settings.phone_session_max)
        got = _sign_ins[id(rt)] = SignIn(
            lifetime=lifetime,
            idle=parse_duration(rt.settings.phone_session_idle),
            codec=SessionCodec(
                purpose_key(rt.settings, "intake-session"), int(lifetime.total_seconds())
            ),
            by_name=Limiter(parse_rate(rt.settings.intake_login_rate)),
            by_address=Limiter(parse_rate(rt.settings.intake_login_address_rate)),
            secure=rt.settings.base_url("intake").startswith("https://"),
        )
    return got


def go_to(url: str) -> web.PageAnswer:
    """A dependency's answer: see-other to `url` (the sign-in, the new password first)."""
    return web.PageAnswer(RedirectResponse(url, status_code=303, headers=dict(api.NO_STORE)))


@dataclass(frozen=True)
class Console:
    """A signed-in volunteer: the session, the account, and the page's language."""

    session: PhoneSession
    user: users.User
    lang: str
    si: SignIn

    @property
    def csrf(self) -> str:
        return self.si.codec.csrf(self.session)

    def stale(self, values: dict[str, str]) -> Response | None:
        """None for a form of this session; else the page that says to reload."""
        if self.si.codec.csrf_ok(self.session, values.get("csrf", "")):
            return None
        return render("message.html", self.lang, status=403, heading=t("ph_csrf", self.lang))


def _back(lang: str) -> str:
    """The query that brings a person back to the console after the one sign-in."""
    return urlencode({"next": "/phone" + ("?lang=en" if lang == "en" else "")})


async def volunteer(request: Request, rt: Rt, lang: Lang) -> Console:
    """A volunteer signed in with the one staff sign-in (web/staff.py: its session, its CSRF,
    its sign-in page and limits, a one-time password changed first) and with the role; without
    a sign-in to that page and back, without the role a 403 page."""
    from services.intake.web.staff import staff_member  # it imports this module

    who = await staff_member(ROLE)(request)
    return Console(PhoneSession(who.sid, who.user.name), who.user, lang, sign_in(rt))


Volunteer = Annotated[Console, Depends(volunteer)]

router = APIRouter(prefix="/phone", include_in_schema=False)


@router.get("/login")
@router.post("/login")
async def login(lang: Lang) -> Response:
    """The console's old sign-in address (bookmarks): the one staff sign-in, back to /phone."""
    return RedirectResponse(f"/staff/login?{_back(lang)}", 303, headers=dict(api.NO_STORE))


@router.get("/password")
@router.post("/password")
async def password(lang: Lang) -> Response:
    """The old address of the new-password page: the one staff sign-in's."""
    return RedirectResponse(f"/staff/password?{_back(lang)}", 303, headers=dict(api.NO_STORE))


@router.post("/logout")
async def logout(request: Request, lang: Lang) -> Response:
    """Signs out of the one staff sign-in (everywhere, as /staff/logout), back to its page."""
    from services.intake.web.staff import end_sign_in  # it imports this module

    if not await end_sign_in(request):
        return render("message.html", lang, status=403, heading=t("ph_csrf", lang))
    response = RedirectResponse(f"/staff/login?{_back(lang)}", status_code=303)
    response.headers.update(api.NO_STORE)
    response.delete_cookie(DONE_COOKIE, path="/phone", httponly=True, samesite="strict")
    response.delete_cookie(STAFF, path="/", httponly=True, samesite="lax")
    return response


async def console_page(
    rt: Runtime, topics: Topics, c: Console, values: dict, errors: dict, status: int = 200
) -> Response:
    # For the script during the call: by when the team calls back on a crisis question now.
    crisis_before = deadlines.respond_before(
        datetime.now(UTC), True, **deadlines.from_settings(rt.settings)
    )
    page = render(
        "phone.html",
        c.lang,
        status=status,
        csrf=c.csrf,
        user=c.user.name,
        values=values,
        errors=errors,
        topics=await topics.all(),
        consent_nl=consent_text("nl", PHONE_CONSENT_VERSION),
        consent_en=consent_text("en", PHONE_CONSENT_VERSION),
        crisis_deadline=local(crisis_before, c.lang),
        submission=values.get("submission") or secrets.token_urlsafe(16),
    )
    page.delete_cookie(DONE_COOKIE, path="/phone", httponly=True, samesite="strict")
    return page


@router.get("", response_class=HTMLResponse)
async def get_console(rt: Rt, topics: Topics, c: Volunteer) -> Response:
    return await console_page(rt, topics, c, {}, {})


@functools.cache
def _done_codec(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt="opendeur:phone-done")


def done_codec(rt: Runtime) -> URLSafeTimedSerializer:
    # The console session's key; the salt keeps the two cookies apart.
    return _done_codec(purpose_key(rt.settings, "intake-session").hex())


def session_tag(s: PhoneSession) -> str:
    return hashlib.sha256(b"done:" + s.sid.encode()).hexdigest()[:24]


@router.post("", response_class=HTMLResponse)
async def post_console(request: Request, rt: Rt, topics: Topics, c: Volunteer) -> Response:
    values = forms.field_values(await request.form())
    if (stale := c.stale(values)) is not None:
        return stale
    person_lang = "en" if values.get("language") == "en" else "nl"
    done = RedirectResponse(f"/phone/klaar?lang={c.lang}", status_code=303)
    done.headers.update(api.NO_STORE)
    sid = values.get("submission", "")[:64]
    if sid and not SUBMISSIONS.claim(sid):
        return done  # this very form was sent before (Back and send, a double tap)
    errors: dict[str, str] = {}
    if values.get("for_self") != "no":
        errors = await forms.check(values, c.lang, topics, phone_console=True)
    if not errors:
        try:
            accepted = await api.accept_question(
                rt, topics, forms.to_question(values, channel="phone", language=person_lang)
            )
        except Refused as err:
            if err.code == "must_self_contact":
                SUBMISSIONS.release(sid)
                return RedirectResponse(f"/phone/verwezen?lang={c.lang}", status_code=303)
            errors = {forms.error_field(err.field): err.message}
        except BaseException:
            SUBMISSIONS.release(sid)
            raise
    if errors:
        SUBMISSIONS.release(sid)
        return await console_page(rt, topics, c, values, errors, status=422)
    value = done_codec(rt).dumps(
        {
            "s": session_tag(c.session),
            "r": accepted.reference,
            "b": accepted.respond_before.isoformat(),
            "p": accepted.advice.professional_help,
            "l": person_lang,
        }
    )
    done.set_cookie(
        DONE_COOKIE,
        value,
        max_age=DONE_TTL,
        path="/phone",
        httponly=True,
        samesite="strict",
        secure=c.si.secure,
    )
    return done


@router.get("/klaar", response_class=HTMLResponse)
async def done_page(request: Request, rt: Rt, c: Volunteer) -> Response:
    """What to read aloud now: the reference, who calls back by when, how to withdraw."""
    data = None
    try:
        raw = done_codec(rt).loads(request.cookies.get(DONE_COOKIE, ""), max_age=DONE_TTL)
        if isinstance(raw, dict) and raw.get("s") == session_tag(c.session):
            data = raw
    except BadSignature:
        data = None
    common = {"csrf": c.csrf, "user": c.user.name}
    if data is None:  # the next call's console cleared it, or another volunteer's
        return render(
            "phone_done.html",
            c.lang,
            heading=t("ph_done", c.lang),
            body=t("ph_done_gone", c.lang),
            **common,
        )
    person = "en" if data.get("l") == "en" else "nl"
    before = datetime.fromisoformat(str(data["b"]))
    return render(
        "phone_done.html",
        c.lang,
        heading=t("ph_done", c.lang),
        reference=data["r"],
        deadline=timefmt.told(before, person, crisis=bool(data["p"])),
        crisis=bool(data["p"]),
        person_lang=person,
        **common,
    )


@router.get("/verwezen", response_class=HTMLResponse)
async def referral_page(rt: Rt, c: Volunteer) -> Response:
    url = rt.settings.base_url("intake") + "/"
    return render(
        "phone_done.html",
        c.lang,
        heading=t("must_self_contact", c.lang),
        body=t("ph_referral", c.lang, url=url),
        csrf=c.csrf,
        user=c.user.name,
    )


def spelled_reference(raw: str) -> str:
    """A reference as a caller spells it ("od ab3d 7kmn", "AB3D7KMN") in its written form."""
    chars = "".join(ch for ch in raw[:40].upper() if ch.isalnum())
    if len(chars) == 10 and chars.startswith("OD"):
        chars = chars[2:]
    return f"OD-{chars[:4]}-{chars[4:]}" if len(chars) == 8 else raw.strip().upper()[:20]


def withdraw_page(c: Console, values: dict, errors: dict, status: int = 200) -> Response:
    return render(
        "phone_withdraw.html",
        c.lang,
        status=status,
        csrf=c.csrf,
        user=c.user.name,
        values=values,
        errors=errors,
    )


@router.get("/intrekken", response_class=HTMLResponse)
async def get_withdraw(c: Volunteer) -> Response:
    return withdraw_page(c, {}, {})


@router.post("/intrekken", response_class=HTMLResponse)
async def post_withdraw(request: Request, rt: Rt, c: Volunteer) -> Response:
    """A caller withdraws their question by phone: the reference they wrote down and the
    number it was left with; the same erasure as the web's withdraw link, attributed to the
    volunteer in the trail (staff.acted withdrawn_by_phone)."""
    values = forms.field_values(await request.form())
    if (stale := c.stale(values)) is not None:
        return stale
    reference = spelled_reference(values.get("reference", ""))
    errors: dict[str, str] = {}
    if not REFERENCE.fullmatch(reference):
        errors["reference"] = t("error_reference", c.lang)
    try:
        phone = validation.normalise_phone(values.get("phone", ""))
    except validation.FieldError:
        errors["phone"] = t("error_invalid_phone", c.lang)
    if errors:
        return withdraw_page(c, values, errors, status=422)
    if not await api.withdraw_by_reference(rt, reference, phone, staff_id=c.user.staff_id):
        errors["reference"] = t("error_withdraw_not_found", c.lang)
        return withdraw_page(c, values, errors, status=404)
    log.info("phone_withdrawn")
    return RedirectResponse(
        f"/phone/ingetrokken?lang={c.lang}", status_code=303, headers=dict(api.NO_STORE)
    )


@router.get("/ingetrokken", response_class=HTMLResponse)
async def withdrawn_page(c: Volunteer) -> Response:
    return render(
        "phone_done.html",
        c.lang,
        heading=t("ph_withdrawn", c.lang),
        say=t("ph_withdrawn_speech", c.lang),
        csrf=c.csrf,
        user=c.user.name,
    )
