"""Reading the question form (web and phone console): every field checked, errors per field."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from opendeur.errors import Refused
from opendeur.settings import get_settings
from services.intake import api, validation
from services.intake.topics import TopicCatalogue
from services.intake.web.i18n import error_message, t

CALL_TIMES_MAX = 200
# Field ids in the order they appear on the page, so the error summary follows the form.
FIELD_ORDER = ("for_self", "consent_read", "topic", "story", "phone", "sms_confirmation")
FIELD_ORDER += ("call_times", "postcode", "consent")


def field_values(form: Mapping[str, object]) -> dict[str, str]:
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


async def check(
    values: dict[str, str], lang: str, topics: TopicCatalogue, *, phone_console: bool = False
) -> dict[str, str]:
    """All problems at once, as {field id: message}; messages never repeat what was typed."""
    errors: dict[str, str] = {}
    if phone_console and values.get("consent_read") != "yes":
        errors["consent_read"] = t("error_consent_read", lang)
    topic = values.get("topic") or ""
    if topic and (len(topic) > 48 or not await topics.is_known(topic)):
        errors["topic"] = t("error_unknown_topic", lang)
    checks = (
        ("story", lambda: validation.normalise_story(values.get("story"))),
        ("phone", lambda: validation.normalise_phone(values.get("phone", ""))),
        ("postcode", lambda: validation.normalise_postcode(values.get("postcode"))),
    )
    for field, fn in checks:
        try:
            fn()
        except validation.FieldError as err:
            errors[field] = error_message(err.code, lang)
    if values.get("sms_confirmation") == "yes" and "phone" not in errors:
        refused = api.sms_refusal(get_settings(), validation.normalise_phone(values["phone"]))
        if refused:
            errors["sms_confirmation"] = error_message(refused, lang)
    if len(values.get("call_times", "")) > CALL_TIMES_MAX:
        errors["call_times"] = t("error_call_times_too_long", lang, max=CALL_TIMES_MAX)
    if values.get("share_with_contact") != "yes":
        errors["consent"] = t("consent_required", lang)
    return {f: errors[f] for f in FIELD_ORDER if f in errors}


def _normalised(fn, raw: str | None) -> str | None:
    try:
        return fn(raw)
    except validation.FieldError:
        return raw  # refused with the form's own message by accept_question


def to_question(values: dict[str, str], *, channel: str, language: str) -> api.QuestionIn:
    """The form as the API's model, phone, postcode and story normalised first, so what a person
    typed or pasted (long runs of spaces included) never trips the model's raw limits; a value
    the model still refuses is a form error on its field, never a 500."""
    try:
        return _to_question(values, channel=channel, language=language)
    except ValidationError as exc:
        loc = exc.errors(include_input=False)[0].get("loc", ()) if exc.error_count() else ()
        field = ".".join(str(p) for p in loc) or None
        raise Refused("invalid_value", "This value is not valid.", field) from None


def _to_question(values: dict[str, str], *, channel: str, language: str) -> api.QuestionIn:
    return api.QuestionIn(
        channel=channel,  # type: ignore[arg-type]
        for_self=values.get("for_self") != "no",
        topic=values.get("topic") or None,
        story=_normalised(validation.normalise_story, values.get("story")),
        phone=_normalised(validation.normalise_phone, values.get("phone", "")),
        postcode=_normalised(validation.normalise_postcode, values.get("postcode")) or None,
        language="en" if language == "en" else "nl",
        consent=api.ConsentIn(
            share_with_contact=values.get("share_with_contact") == "yes",
            statistics=values.get("statistics") == "yes",
        ),
        wants_to_start_group=values.get("wants_to_start_group") == "yes",
        call_times=values.get("call_times") or None,
        sms_confirmation=values.get("sms_confirmation") == "yes",
    )


def error_field(err_field: str | None) -> str:
    """Map an API error's field to the form's field id."""
    return {"consent.share_with_contact": "consent", None: "phone"}.get(
        err_field, err_field or "phone"
    )
