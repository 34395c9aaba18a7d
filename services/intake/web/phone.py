"""The phone-line console: volunteers log in and enter a caller's question, script read aloud.

A signed-in session lives in the database (users.phone_sessions): logout, an idle timeout, the
absolute lifetime, a new password and `opendeur users disable` end it at once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from opendeur.keys import purpose_key
from opendeur.logging import get_logger
from opendeur.runtime import ApiError, Runtime
from opendeur.settings import parse_duration
from services.intake import api, users
from services.intake.consent import consent_text
from services.intake.ratelimit import Limiter, rate_from_env
from services.intake.topics import TopicCatalogue
from services.intake.web import forms
from services.intake.web.i18n import NETWORK_PHONE, t
from services.intake.web.pages import lang_of, local, render

log = get_logger(component="intake.phone")

COOKIE = "od_phone"
STAFF = "od_staff_in"  # the one staff sign-in's cookie (web/staff.py)
ROLE = "telefoonvrijwilliger"


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
    """The one SignIn of this runtime (both routers ask for it)."""
    got = _sign_ins.get(id(rt))
    if got is None:
        lifetime = parse_duration(rt.settings.phone_session_max)
        got = _sign_ins[id(rt)] = SignIn(
            lifetime=lifetime,
            idle=parse_duration(rt.settings.phone_session_idle),
            codec=SessionCodec(
                purpose_key(rt.settings, "intake-session"), int(lifetime.total_seconds())
            ),
            by_name=Limiter(rate_from_env("OPENDEUR_INTAKE_LOGIN_RATE", "5/min")),
            by_address=Limiter(rate_from_env("OPENDEUR_INTAKE_LOGIN_ADDRESS_RATE", "60/min")),
            secure=rt.settings.base_url("intake").startswith("https://"),
        )
    return got


def make_router(rt: Runtime, topics: TopicCatalogue) -> APIRouter:
    router = APIRouter(prefix="/phone", include_in_schema=False)
    si = sign_in(rt)
    lifetime, idle, codec, secure = si.lifetime, si.idle, si.codec, si.secure
    by_name, by_address = si.by_name, si.by_address

    def set_cookie(response: Response, s: PhoneSession) -> Response:
        response.headers.update(api.NO_STORE)
        response.set_cookie(
            COOKIE,
            codec.dump(s),
            max_age=codec.max_age,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/phone",
        )
        return response

    def fresh() -> PhoneSession:
        return PhoneSession(secrets.token_urlsafe(18), None)

    async def signed_in_as(name: str) -> PhoneSession:
        sid = await users.open_session(rt.sessions, name, datetime.now(UTC), lifetime)
        return PhoneSession(sid, name)

    async def current(request: Request) -> tuple[PhoneSession, users.User] | None:
        # The console's own sign-in, or the one staff sign-in (web/staff.py: same codec).
        s = codec.load(request.cookies.get(COOKIE)) or codec.load(request.cookies.get(STAFF))
        if s is None or s.user is None:
            return None
        user = await users.session_user(rt.sessions, s.sid, datetime.now(UTC), idle)
        if user is None or user.name != s.user or not user.has(ROLE):
            return None
        return s, user

    def to_login(lang: str) -> RedirectResponse:
        return RedirectResponse(f"/phone/login?lang={lang}", status_code=303)

    def login_page(lang: str, s: PhoneSession, error: str = "", status: int = 200) -> Response:
        page = render("phone_login.html", lang, status=status, csrf=codec.csrf(s), error=error)
        return set_cookie(page, s)

    @router.get("/login", response_class=HTMLResponse)
    async def get_login(request: Request) -> Response:
        s = codec.load(request.cookies.get(COOKIE)) or fresh()
        return login_page(lang_of(request), s)

    @router.post("/login", response_class=HTMLResponse)
    async def post_login(request: Request) -> Response:
        lang = lang_of(request)
        s = codec.load(request.cookies.get(COOKIE))
        values = forms.field_values(await request.form())
        if not codec.csrf_ok(s, values.get("csrf", "")) or s is None:
            return login_page(lang, fresh(), t("ph_csrf", lang), status=403)
        name = values.get("name", "").strip().lower()[:64]
        client = request.client.host if request.client else "unknown"
        if by_address.take(client) or by_name.take(f"{name}@{client}"):
            log.warning("phone_login_limited")
            return login_page(lang, s, t("ph_login_slow", lang), status=429)
        user = await users.authenticate(rt.sessions, name, values.get("password", ""))
        if user is None or not user.has(ROLE):  # same answer: no hint which accounts exist
            log.info("phone_login_failed")
            return login_page(lang, s, t("ph_login_failed", lang), status=401)
        log.info("phone_login")
        # A new session id at login: a session id planted before login is worth nothing.
        session = await signed_in_as(user.name)
        target = "/phone/password" if user.must_change else "/phone"
        return set_cookie(RedirectResponse(f"{target}?lang={lang}", status_code=303), session)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        lang = lang_of(request)
        s = codec.load(request.cookies.get(COOKIE)) or codec.load(request.cookies.get(STAFF))
        values = forms.field_values(await request.form())
        if not codec.csrf_ok(s, values.get("csrf", "")):
            return render("message.html", lang, status=403, heading=t("ph_csrf", lang))
        assert s is not None  # csrf_ok needs a session
        await users.end_session(rt.sessions, s.sid)  # a copy of the cookie is worth nothing now
        response = to_login(lang)
        response.headers.update(api.NO_STORE)
        response.delete_cookie(COOKIE, path="/phone", httponly=True, samesite="strict")
        response.delete_cookie(STAFF, path="/", httponly=True, samesite="lax")
        return response

    def password_page(
        lang: str, s: PhoneSession, user: str, errors: dict[str, str], status: int = 200
    ) -> Response:
        return render(
            "phone_password.html",
            lang,
            status=status,
            csrf=codec.csrf(s),
            errors=errors,
            user=user,
            min=users.PASSWORD_MIN,
        )

    @router.get("/password", response_class=HTMLResponse)
    async def get_password(request: Request) -> Response:
        lang = lang_of(request)
        found = await current(request)
        if found is None:
            return to_login(lang)
        return password_page(lang, found[0], found[1].name, {})

    @router.post("/password", response_class=HTMLResponse)
    async def post_password(request: Request) -> Response:
        lang = lang_of(request)
        found = await current(request)
        if found is None:
            return to_login(lang)
        s, user = found
        values = forms.field_values(await request.form())
        if not codec.csrf_ok(s, values.get("csrf", "")):
            return render("message.html", lang, status=403, heading=t("ph_csrf", lang))
        password = values.get("password", "")
        errors: dict[str, str] = {}
        if len(password) < users.PASSWORD_MIN or len(password) > 1024:
            errors["password"] = t("ph_password_short", lang)
        elif password != values.get("password2", ""):
            errors["password2"] = t("ph_password_mismatch", lang)
        if errors:
            return password_page(lang, s, user.name, errors, status=422)
        await users.set_password(rt.sessions, user.name, password)  # ends every session
        session_after = await signed_in_as(user.name)
        return set_cookie(RedirectResponse(f"/phone?lang={lang}", status_code=303), session_after)

    async def console(
        lang: str, s: PhoneSession, user: str, values: dict, errors: dict, status: int = 200
    ) -> Response:
        return render(
            "phone.html",
            lang,
            status=status,
            csrf=codec.csrf(s),
            user=user,
            values=values,
            errors=errors,
            topics=await topics.all(),
            consent_nl=consent_text("nl"),
            consent_en=consent_text("en"),
        )

    async def signed_in(request: Request, lang: str) -> Response | tuple:
        """The volunteer's session and user, or where to send them first."""
        found = await current(request)
        if found is None:
            return to_login(lang)
        if found[1].must_change:
            return RedirectResponse(f"/phone/password?lang={lang}", status_code=303)
        return found

    @router.get("", response_class=HTMLResponse)
    async def get_console(request: Request) -> Response:
        lang = lang_of(request)
        found = await signed_in(request, lang)
        if isinstance(found, Response):
            return found
        s, user = found
        return await console(lang, s, user.name, {}, {})

    @router.post("", response_class=HTMLResponse)
    async def post_console(request: Request) -> Response:
        lang = lang_of(request)
        found = await signed_in(request, lang)
        if isinstance(found, Response):
            return found
        s, user = found
        values = forms.field_values(await request.form())
        if not codec.csrf_ok(s, values.get("csrf", "")):
            return render("message.html", lang, status=403, heading=t("ph_csrf", lang))
        person_lang = "en" if values.get("language") == "en" else "nl"
        common = {"csrf": codec.csrf(s), "user": user.name}
        if values.get("for_self") == "no":
            try:
                await api.accept_question(
                    rt, topics, forms.to_question(values, channel="phone", language=person_lang)
                )
            except ApiError as err:
                if err.code != "must_self_contact":
                    errors = {forms.error_field(err.field): err.message}
                    return await console(lang, s, user.name, values, errors, status=422)
            url = rt.settings.base_url("intake") + "/"
            return render(
                "phone_done.html",
                lang,
                heading=t("must_self_contact", lang),
                body=t("ph_referral", lang, phone=NETWORK_PHONE, url=url),
                **common,
            )
        errors = await forms.check(values, lang, topics, phone_console=True)
        if not errors:
            try:
                accepted = await api.accept_question(
                    rt, topics, forms.to_question(values, channel="phone", language=person_lang)
                )
            except ApiError as err:
                errors = {forms.error_field(err.field): err.message}
        if errors:
            return await console(lang, s, user.name, values, errors, status=422)
        return render(
            "phone_done.html",
            lang,
            heading=t("ph_done", lang),
            reference=accepted.reference,
            deadline=local(accepted.respond_before, person_lang),  # read aloud to the caller
            advice=accepted.advice.message if accepted.advice.professional_help else "",
            person_lang=person_lang,
            **common,
        )

    return router
