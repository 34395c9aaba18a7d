"""The help-seeker's own SMS confirmation, decided without I/O: whether her number can take one,
its text (short, in her language), the gateway's idempotency key, and when to try again.

The text carries the withdraw link, so whoever sees the phone can withdraw the question: the
form says so next to the box, and the box starts unticked."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from datetime import datetime, timedelta
from uuid import UUID

import phonenumbers

from opendeur import backoff, timefmt
from services.intake.web.i18n import t

# Tries before giving up (a temporary failure each: 429, 5xx, no connection). With full jitter
# on the 2 s base (OPENDEUR_SMS_RETRY_BASE), each wait capped at 10 minutes, the last try comes
# at most ~37 minutes after the first, about half that on average: the gateway may be away for
# a while, and an SMS that comes hours late, after the call, helps nobody.
MAX_ATTEMPTS = 12
RETRY_CAP_S = 600.0
# At most one confirmation per number a day, and this many an hour in all (per intake process):
# the box is on a public form, so without limits anyone could have the network text any number
# (an attack sent 14 to one number within a second, and to paid foreign numbers).
PER_NUMBER = timedelta(hours=24)


def can_receive_sms(e164: str) -> bool:
    """Whether a normalised number (validation.normalise_phone) may take an SMS: a Dutch mobile
    (06) only. Landlines, service numbers, pagers (066) and foreign numbers (where texts can
    cost the network dearly, "SMS pumping") are refused."""
    number = phonenumbers.parse(e164)
    mobile = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    return number.country_code == 31 and mobile


class Allowance:
    """Whether one more confirmation may go out now: once per number per PER_NUMBER, and at
    most `per_hour` in all. Numbers are remembered only as HMACs under a key made in memory
    (renewed each day), never stored; several intake processes each count their own."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour
        self._key = os.urandom(32)
        self._key_until = 0.0
        self._numbers: dict[bytes, float] = {}
        self._sent: list[float] = []

    def take(self, e164: str, now: float | None = None) -> str | None:
        """None, and the send is counted; or why not ("sms_already_sent", "sms_budget")."""
        now = time.monotonic() if now is None else now
        if now >= self._key_until:  # a new day: a new key, nothing remembered
            self._key, self._key_until, self._numbers = os.urandom(32), now + 86400.0, {}
        self._numbers = {k: t for k, t in self._numbers.items() if t > now}
        self._sent = [t for t in self._sent if t > now - 3600.0]
        mark = hmac.new(self._key, e164.encode(), hashlib.sha256).digest()
        if mark in self._numbers:
            return "sms_already_sent"
        if len(self._sent) >= self.per_hour:
            return "sms_budget"
        self._numbers[mark] = now + PER_NUMBER.total_seconds()
        self._sent.append(now)
        return None


def withdraw_url(base_url: str, question_id: UUID, token: str, lang: str) -> str:
    """The thank-you page's withdraw link, absolute (the page asks once more before erasing)."""
    return f"{base_url}/intrekken/{question_id}?token={token}" + (
        "&lang=en" if lang == "en" else ""
    )


def text(
    lang: str,
    *,
    network: str | None,
    reference: str,
    respond_before: datetime,
    link: str,
    crisis: bool = False,
) -> str:
    """Network, reference, when the call comes (the thank-you page's words: never a call at
    night, a crisis question's team time exact), the withdraw link; nothing about the question
    itself (a shared phone shows it to others)."""
    return t(
        "sms_text",
        lang,
        network=network or t("site", lang),
        reference=reference,
        deadline=timefmt.told(respond_before, lang, crisis=crisis),
        link=link,
    )


def idempotency_key(sealed: bytes) -> str:
    """One per confirmation, the same on every try (the gateway sends it once): a hash of its
    sealed text, which is random (its nonce) and unchanged until sent. Not the question's id,
    which the gateway's logs would then join to the audit trail."""
    return "oc-" + hashlib.sha256(sealed).hexdigest()[:32]


def retry_in(attempt: int, base: float) -> float | None:
    """Seconds until the next try after temporary failure number `attempt`; None: give up."""
    if not backoff.should_retry(attempt, MAX_ATTEMPTS):
        return None
    return backoff.delay(attempt, base, RETRY_CAP_S)
