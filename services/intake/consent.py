"""Versioned consent texts: what the person agrees to, exactly, and which version they saw."""

from __future__ import annotations

CONSENT_VERSION = "consent-2026-11-v1"
# Read aloud by a phone volunteer to a caller: in the volunteer's voice ("je" is the caller),
# no link promised (a caller gets none); withdrawing is by phone, with the reference.
PHONE_CONSENT_VERSION = "consent-2026-12-phone-v1"

# Changing a text means a new version: the question records the version that was shown.
CONSENT_TEXTS = {
    ("consent-2026-11-v1", "nl"): (
        "Ik geef toestemming dat één contactpersoon van een zelfhulpgroep mijn telefoonnummer "
        "(en mijn verhaal, als ik dat schreef) mag zien om mij terug te bellen. Niemand anders "
        "ziet deze gegevens. Ze worden versleuteld bewaard en gewist na het terugbelgesprek "
        "(uiterlijk 48 uur daarna), of na 30 dagen als er niet gebeld is. Ik kan mijn vraag en "
        "gegevens altijd intrekken via de link die ik na het versturen krijg."
    ),
    ("consent-2026-11-v1", "en"): (
        "I agree that one contact person of a self-help group may see my phone number (and my "
        "story, if I wrote one) to call me back. No one else sees this data. It is stored "
        "encrypted and erased after the callback (at most 48 hours later), or after 30 days if "
        "no call took place. I can withdraw my question and data at any time with the link I "
        "get after sending."
    ),
    ("consent-2026-12-phone-v1", "nl"): (
        "Ik schrijf je telefoonnummer op, en wat je mij vertelt als je dat wilt. Eén "
        "contactpersoon van een zelfhulpgroep mag dat zien om je terug te bellen. Bij een "
        "crisis is dat iemand van het netwerkteam. Niemand anders ziet het. Het wordt "
        "versleuteld bewaard en gewist na het terugbelgesprek, uiterlijk 48 uur daarna, of na 30 "
        "dagen als er niet gebeld is. Je krijgt van ons geen link of bericht. Wil je je vraag "
        "intrekken? Bel ons dan opnieuw en noem je kenmerk; dan wissen we alles meteen."
    ),
    ("consent-2026-12-phone-v1", "en"): (
        "I will write down your phone number, and what you tell me if you want. One contact "
        "person of a self-help group may see it to call you back. In a crisis that is someone "
        "from the network team. No one else sees it. It is stored encrypted and erased after the "
        "callback, at most 48 hours later, or after 30 days if no call took place. You will not "
        "get a link or a message from us. Want to withdraw your question? Call us again and give "
        "your reference; we then erase everything at once."
    ),
}


def consent_text(lang: str, version: str = CONSENT_VERSION) -> str:
    return CONSENT_TEXTS[(version, lang if lang in ("nl", "en") else "nl")]


def version_for(channel: str) -> str:
    """The text a person of this channel was shown (web) or read aloud (phone)."""
    return PHONE_CONSENT_VERSION if channel == "phone" else CONSENT_VERSION
