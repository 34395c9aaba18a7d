"""Versioned consent texts: what the person agrees to, exactly, and which version they saw."""

from __future__ import annotations

CONSENT_VERSION = "consent-2026-11-v1"

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
}


def consent_text(lang: str, version: str = CONSENT_VERSION) -> str:
    return CONSENT_TEXTS[(version, lang if lang in ("nl", "en") else "nl")]
