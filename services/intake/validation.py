"""Pure normalisation and validation of what a help-seeker types into the intake form."""

import re

import phonenumbers

STORY_MAX_CHARS = 4000
# After whitespace and separators are taken out: "+31 (0)6 12 34 56 78" is 15 characters.
PHONE_MAX_CHARS = 32
# What a person may paste around a number or postcode (stray runs of spaces, tabs, a newline);
# the request models allow this much so padding reaches the form's own error, not a 500.
RAW_MAX_CHARS = 1000

# Fixed texts per code for the exception itself (logs, tracebacks), without digits for phone
# and postcode, so an error can never echo (part of) what the person typed. What a person reads
# comes from the one catalogue (web/i18n.py `error_message`).
_MESSAGES: dict[str, str] = {
    "invalid_phone": "This phone number is not valid.",
    "invalid_postcode": "This postcode is not valid.",
    "story_too_long": f"The story is longer than {STORY_MAX_CHARS} characters.",
}

_PHONE_CHARS = re.compile(r"\+?[0-9()]+")
# Separators people type or paste between digits: dashes of every kind, dots, slashes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212./]+")
_POSTCODE = re.compile(r"([1-9][0-9]{3})(?:[A-Z]{2})?")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f]")


class FieldError(ValueError):
    """A form field that cannot be accepted; the messages never contain the submitted value."""

    def __init__(self, code: str, field: str) -> None:
        self.code = code
        self.field = field
        self.message = _MESSAGES[code]
        super().__init__(self.message)


def normalise_phone(raw: str) -> str:
    """Return the phone number in E.164 form ("+31612345678"); Dutch numbers need no prefix.

    Spaces (any run, any kind), dashes, dots, slashes and brackets are ignored, so a number is
    accepted the way people type or paste it: "06-12 34 56 78", "+31 (0)6 1234 5678",
    "0031 6 12345678"."""
    if not isinstance(raw, str) or len(raw) > RAW_MAX_CHARS:
        raise FieldError("invalid_phone", "phone")
    text = _SEPARATORS.sub("", raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text or len(text) > PHONE_MAX_CHARS or not _PHONE_CHARS.fullmatch(text):
        raise FieldError("invalid_phone", "phone")
    try:
        number = phonenumbers.parse(text, "NL")
    except phonenumbers.NumberParseException:
        raise FieldError("invalid_phone", "phone") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("invalid_phone", "phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_postcode(raw: str | None) -> str | None:
    """Return the four digits of a Dutch postcode ("5611 AB", "5611ab", " 5611 - AB " -> "5611"),
    or None if left empty."""
    if raw is not None and (not isinstance(raw, str) or len(raw) > RAW_MAX_CHARS):
        raise FieldError("invalid_postcode", "postcode")
    text = _SEPARATORS.sub("", raw or "").upper()
    if not text:
        return None
    match = _POSTCODE.fullmatch(text)
    if match is None:
        raise FieldError("invalid_postcode", "postcode")
    return match.group(1)


def normalise_story(raw: str | None) -> str | None:
    """Return the story without control characters and surrounding space, or None if empty."""
    if not raw:
        return None
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_CHARS.sub("", text).strip()
    if not text:
        return None
    if len(text) > STORY_MAX_CHARS:
        raise FieldError("story_too_long", "story")
    return text
