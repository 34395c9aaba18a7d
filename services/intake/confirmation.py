"""The help-seeker's own SMS confirmation, decided without I/O: whether her number can take one,
its text (short, in her language), the gateway's idempotency key, and when to try again.

The text carries the withdraw link, so whoever sees the phone can withdraw the question: the
form says so next to the box, and the box starts unticked."""

from __future__ import annotations

from datetime import datetime
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
_T = phonenumbers.PhoneNumberType
# Numbers that cannot take an SMS: landlines, service numbers (0800, 0900, 0909), VoIP and
# company numbers (085, 088), voicemail. Anything else (mobiles, 066 pagers, numbers whose
# country's plan does not tell) we try; the gateway says if it cannot deliver.
_NO_SMS = (_T.FIXED_LINE, _T.TOLL_FREE, _T.PREMIUM_RATE, _T.SHARED_COST, _T.VOIP, _T.UAN)
_NO_SMS += (_T.VOICEMAIL,)


def can_receive_sms(e164: str) -> bool:
    """Whether a normalised number (validation.normalise_phone) may take an SMS: not a Dutch
    landline (040 ...) or service number; where the plan does not tell, we try."""
    return phonenumbers.number_type(phonenumbers.parse(e164)) not in _NO_SMS


def withdraw_url(base_url: str, question_id: UUID, token: str, lang: str) -> str:
    """The thank-you page's withdraw link, absolute (the page asks once more before erasing)."""
    return f"{base_url}/intrekken/{question_id}?token={token}" + (
        "&lang=en" if lang == "en" else ""
    )


def text(
    lang: str, *, network: str | None, reference: str, respond_before: datetime, link: str
) -> str:
    """Network, reference, when the call comes (the thank-you page's words), the withdraw link;
    nothing about the question itself (a shared phone shows it to others)."""
    return t(
        "sms_text",
        lang,
        network=network or t("site", lang),
        reference=reference,
        deadline=timefmt.deadline(respond_before, lang),
        link=link,
    )


def idempotency_key(question_id: UUID) -> str:
    """One per question, the same on every try: the gateway sends it once."""
    return f"opendeur-confirmation-{question_id}"


def retry_in(attempt: int, base: float) -> float | None:
    """Seconds until the next try after temporary failure number `attempt`; None: give up."""
    if not backoff.should_retry(attempt, MAX_ATTEMPTS):
        return None
    return backoff.delay(attempt, base, RETRY_CAP_S)
