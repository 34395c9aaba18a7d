"""The one message catalogue of intake's pages (Dutch first, English second)."""

from __future__ import annotations

CATALOGUE: dict[str, tuple[str, str]] = {
    "site": ("Zelfhulp Netwerk", "Self-help Network"),
    "crisis": (
        "Denk je aan zelfdoding? Bel 0800-0113 of chat via 113.nl (gratis, anoniem, dag en nacht). "
        "Direct gevaar? Bel 112. Je kunt ook altijd je huisarts bellen.",
        "Thinking about suicide? Call 0800-0113 or chat at 113.nl (free, anonymous, day and night). "
        "Immediate danger? Call 112. You can always call your GP too.",
    ),
    "title": ("Stel je vraag aan een zelfhulpgroep", "Ask a self-help group your question"),
    "intro": (
        "Iemand van een zelfhulpgroep belt je terug, meestal binnen 24 uur. Dat is iemand die "
        "zelf ervaring heeft, geen hulpverlener.",
        "Someone from a self-help group calls you back, usually within 24 hours. That is "
        "someone with experience of their own, not a professional.",
    ),
    "for_self": ("Stel je deze vraag voor jezelf?", "Are you asking for yourself?"),
    "yes": ("Ja, voor mezelf", "Yes, for myself"),
    "no": ("Nee, voor iemand anders", "No, for someone else"),
    "topic": ("Waar wil je over praten?", "What would you like to talk about?"),
    "topic_unknown": ("Weet ik niet / in mijn eigen woorden", "I don't know / in my own words"),
    "story": ("Je verhaal (mag je leeg laten)", "Your story (you may leave this empty)"),
    "story_hint": (
        "Alleen de contactpersoon die je terugbelt leest dit. Schrijf niet meer dan je wilt.",
        "Only the contact person who calls you back reads this. Write no more than you want to.",
    ),
    "phone": ("Je telefoonnummer", "Your phone number"),
    "call_times": (
        "Wanneer kunnen we je bellen? (mag je leeg laten)",
        "When can we call you? (optional)",
    ),
    "postcode": ("Je postcode (mag je leeg laten)", "Your postcode (optional)"),
    "postcode_hint": (
        "Alleen de cijfers worden gebruikt, om een groep bij jou in de buurt te vinden.",
        "Only the digits are used, to find a group near you.",
    ),
    "consent": ("Toestemming", "Consent"),
    "statistics": (
        "Mijn vraag mag zonder naam en nummer meetellen in de cijfers van het netwerk.",
        "My question may count, without name or number, in the network's statistics.",
    ),
    "start_group": (
        "Is er geen groep bij mij in de buurt? Dan help ik graag mee er een te beginnen.",
        "Is there no group near me? Then I would like to help start one.",
    ),
    "send": ("Verstuur mijn vraag", "Send my question"),
    "errors_title": (
        "Er ging iets mis. Kijk naar de velden hieronder.",
        "Something is not right. Please look at the fields below.",
    ),
    "thanks_title": (
        "Dank je wel. Je vraag is ontvangen.",
        "Thank you. Your question has arrived.",
    ),
    "reference": ("Je kenmerk", "Your reference"),
    "next": (
        "Een contactpersoon van een zelfhulpgroep belt je, normaal binnen 24 uur, vóór {deadline}. "
        "Het nummer kan onbekend voor je zijn.",
        "A contact person of a self-help group will call you, normally within 24 hours, before "
        "{deadline}. The number may be one you do not know.",
    ),
    "withdraw_hint": (
        "Wil je je vraag intrekken? Bewaar deze link; daarmee wissen we je gegevens meteen:",
        "Want to withdraw your question? Keep this link; it erases your data at once:",
    ),
    "withdraw": ("Vraag intrekken", "Withdraw my question"),
    "withdrawn": (
        "Je vraag is ingetrokken en je gegevens zijn gewist.",
        "Your question was withdrawn and your data erased.",
    ),
    "not_found": ("Deze link werkt niet (meer).", "This link does not work (any more)."),
    "consent_required": (
        "Zonder deze toestemming kan niemand je terugbellen.",
        "Without this permission nobody can call you back.",
    ),
    "must_self_contact": (
        "We helpen alleen als iemand zelf contact zoekt. Geef de persoon onze verwijskaart.",
        "We can only help when people contact us themselves. Give them our referral card.",
    ),
    "lang_switch": ("English", "Nederlands"),
}


def t(key: str, lang: str, **kw: str) -> str:
    text = CATALOGUE[key][1 if lang == "en" else 0]
    return text.format(**kw) if kw else text
