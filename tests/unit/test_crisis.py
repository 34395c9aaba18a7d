"""Tests for the Dutch/English crisis-language detector used at intake."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.crisis import CRISIS_CATEGORIES, crisis_categories, detect_crisis

MUST_FLAG_NL = [
    "Ik wil dood.",
    "ik wil gewoon dood, ik trek het niet meer",
    "IK WIL NIET MEER LEVEN",
    "ik wil er niet meer zijn",
    "Ik denk de laatste tijd veel aan zelfmoord",
    "ik heb zelfmoordgedachten en weet niet wat ik moet doen",
    "Ik heb vannacht pillen geslikt en voel me raar",
    "ik wil er een eind aan maken",
    "Ik wil er een einde aan maken, het heeft geen zin meer",
    "ik ben bang dat ik mezelf iets aandoe",
    "ik ga mezelf iets aan doen als niemand helpt",
    "Ik snij mezelf weer sinds vorige week",
    "ik ben weer gaan krassen in mijn armen",
    "Ik heb steeds gedachten over suïcide",
    "ik ben suicidaal en durf het niemand te vertellen",
    "het leven heeft voor mij geen zin meer",
    "ik zie geen uitweg meer",
    "Mijn man slaat me en hij is nu thuis",
    "ik ben thuis niet veilig, hij heeft een mes",
    "Hij dreigt me te vermoorden als ik weg ga",
    "ik heb een hele strip paracetamol geslikt",
    "ik heb te veel slaappillen genomen",
    "ik wil mijn polsen doorsnijden",
    "Was ik maar dood",
    "iedereen is beter af zonder mij",
    "ik hoop dat ik morgen niet meer wakker word",
    "ik wil mezelf van kant maken",
    "ik sta op het station en wil voor de trein springen",
    "ik denk eraan om zelf-moord te plegen",
    "ik denk aan zelfmord",
    "Ik wil echt niet meer leven hoor",
    "Ik zie het niet meer zitten,  ik wil er een eind aan maken!!",
    "waarom zou ik nog leven",
    "ik heb geen zin meer om te leven",
    "Ik ben in gevaar, help",
    "ik doe mezelf pijn als het te veel wordt",
    "ik wil doodgaan",
    "ik wou dat ik dood was",
    "Ik heb een overdosis genomen",
    "ik heb zojuist 30 pillen ingenomen",
    "mijn moeder is overleden en nu wil ik ook dood",
    "Ik ben niet gelukkig. Ik wil dood",
    "Soms denk ik dat ik beter dood kan zijn",
    "wil eigenlijk gewoon dood",
]

MUST_FLAG_EN = [
    "I want to die",
    "i just wanna die",
    "I don't want to live anymore",
    "i dont want to be alive anymore",
    "I’m going to kill myself tonight",
    "thinking about killing my self",
    "I want to end it all",
    "i want to end my life",
    "I've been having suicidal thoughts",
    "I keep hurting myself",
    "I cut myself again last night",
    "I took too many pills",
    "i swallowed a whole bottle of sleeping pills",
    "My boyfriend is hitting me right now",
    "he threatened to kill me, I'm not safe at home",
    "I wish I was dead",
    "everyone would be better off without me",
    "there's no reason to live",
    "I have nothing left to live for",
    "I overdosed on my meds",
    "I hope I don't wake up tomorrow",
    "I want to take my own life",
    "I'm in danger, please help",
    "i think about suicide every day",
    "I dont want to die but I think about killing myself",
    "he's beating me",
    "i cant go on living like this",
]

MUST_NOT_FLAG_NL = [
    "ik wil niet dood",
    "Ik wil niet dood, ik wil juist hulp",
    "ik heb geen gedachten aan zelfmoord, ik ben alleen erg eenzaam",
    "Mijn moeder is dood en ik mis haar",
    "rouw na de dood van mijn vader",
    "ik ben altijd doodmoe",
    "ik lach me dood om die serie",
    "mijn vader is vorig jaar overleden",
    "Ik zoek lotgenoten na de zelfmoord van mijn broer",
    "mijn zoon heeft zelfmoord gepleegd, ik zoek een groep voor nabestaanden",
    "ik heb nooit aan zelfmoord gedacht",
    "ik ben niet suicidaal, wel somber",
    "Ik snijd groenten voor het eten en dan denk ik aan haar",
    "ik moet elke dag mijn pillen innemen tegen de depressie",
    "ik vergeet vaak mijn medicijnen in te nemen",
    "ik wil stoppen met drinken",
    "ik zoek een groep voor slachtoffers van huiselijk geweld",
    "ik ben als kind mishandeld en zoek lotgenoten",
    "Ik ben doodsbang voor de tandarts",
    "het is doodstil in huis sinds hij er niet meer is",
    "ik kan niet meer slapen van de zorgen",
    "ik ben bang voor de dood",
    "ik heb mijn pillen geslikt zoals de dokter zei",
    "ik wil weer leven, niet alleen overleven",
    "de dood van mijn man heeft me gebroken",
    "ik heb geen zelfmoordgedachten, maar wel veel verdriet",
    "Ik wil een einde aan mijn verslaving maken",
    "Mijn man slaat me niet, maar hij kleineert me wel",
    "ik denk veel aan de dood van mijn zus",
    "Ik ben niet in gevaar maar wil graag praten",
    "ik ben niet veilig geweest als kind",
    "mijn man is twee jaar geleden doodgegaan",
    "ik word doodziek van mijn baas",
    "mijn zoon is verslaafd aan pillen",
    "Ik wil geen zelfmoord plegen",
    "ik voel me niet veilig in grote groepen",
]

MUST_NOT_FLAG_EN = [
    "I don't want to die, I want help",
    "never thought about suicide",
    "My dad died last year",
    "my mother passed away and I can't stop crying",
    "I'm looking for a group for people who lost someone to suicide",
    "this deadline is killing me",
    "I'm dead tired all the time",
    "I take my pills every morning",
    "I would never hurt myself, but I feel very lonely",
    "I am not suicidal, just sad",
    "I want to live a happy life again",
    "I want to stop drinking",
    "I hurt my back at work",
    "my brother committed suicide last year and I need support",
    "I'm not in danger, I just need someone to talk to",
    "I laughed so hard I almost died",
    "No, I have no thoughts of self-harm",
    "my grandmother died of an overdose of morphine",
    "I don't want to live with my parents anymore",
    "I am in danger of failing my exams",
    "I'm dying to meet others",
    "I cut my finger while cooking",
    "I'm not going to kill myself, don't worry",
]


@pytest.mark.parametrize("text", MUST_FLAG_NL + MUST_FLAG_EN)
def test_crisis_phrasings_are_flagged(text: str) -> None:
    assert detect_crisis(text) is True


@pytest.mark.parametrize("text", MUST_NOT_FLAG_NL + MUST_NOT_FLAG_EN)
def test_ordinary_and_negated_phrasings_are_not_flagged(text: str) -> None:
    assert detect_crisis(text) is False


def test_there_are_enough_examples_in_both_languages() -> None:
    assert len(MUST_FLAG_NL) + len(MUST_FLAG_EN) >= 40
    assert len(MUST_NOT_FLAG_NL) + len(MUST_NOT_FLAG_EN) >= 40
    assert min(len(MUST_FLAG_EN), len(MUST_NOT_FLAG_EN)) >= 15


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ik denk aan zelfmoord", {"suicide"}),
        ("ik ben weer aan het snijden in mijn armen", {"self_harm"}),
        ("hij slaat me", {"violence"}),
        ("ik heb pillen geslikt", {"overdose"}),
        ("He is choking me. I want to die", {"violence", "suicide"}),
        ("Ik wil niet dood, ik wil juist hulp", set()),
    ],
)
def test_categories_name_the_kind_of_danger(text: str, expected: set[str]) -> None:
    assert crisis_categories(text) == expected


@pytest.mark.parametrize("text", MUST_FLAG_NL + MUST_FLAG_EN)
def test_categories_are_codes_from_the_documented_set_never_words(text: str) -> None:
    categories = crisis_categories(text)
    assert categories
    assert categories <= CRISIS_CATEGORIES
    assert CRISIS_CATEGORIES == {"suicide", "self_harm", "violence", "overdose"}


@pytest.mark.parametrize(
    "text",
    ["IK  WIL   DOOD", "ik wil dood!!!", "ik\twil\ndood", "Ik wíl dóód", "ik wil... dood"],
)
def test_case_accents_spacing_and_punctuation_do_not_hide_a_crisis(text: str) -> None:
    assert detect_crisis(text) is True


def test_hidden_unicode_marks_do_not_hide_a_crisis() -> None:
    assert detect_crisis("ik wil \u200fdo\u200bod \U0001f622") is True
    assert detect_crisis("I want to\u00a0die") is True


@pytest.mark.parametrize(
    "text", [None, "", "   ", "😢😢😢", "\u202e\u200f", "\x00" * 50, "a" * 10_000, "dood " * 2000]
)
def test_odd_input_is_not_a_crisis_and_does_not_raise(text: str | None) -> None:
    assert detect_crisis(text) is False
    assert crisis_categories(text) == frozenset()


def test_crisis_at_the_end_of_a_long_story_is_found_quickly() -> None:
    story = "Ik voel me de laatste tijd erg alleen en moe. " * 220 + "Eigenlijk wil ik dood."
    started = time.perf_counter()
    assert detect_crisis(story) is True
    # Generous bound: detection runs on every intake and must stay far below a second.
    assert time.perf_counter() - started < 1.0


@given(st.text(max_size=500))
def test_detect_crisis_never_raises_and_returns_a_bool(text: str) -> None:
    assert isinstance(detect_crisis(text), bool)
    assert crisis_categories(text) <= CRISIS_CATEGORIES


# Who may call a crisis question back (services/intake/domain.py, web/crisis.py).
def _q(**kw: object) -> dict:
    base = {"erased_at": None, "status": "unmatched", "professional_help_advised": True}
    return {**base, **kw}


def test_the_team_calls_an_open_crisis_question() -> None:
    from services.intake import domain

    assert domain.crisis_state(_q()) == "open"
    assert domain.crisis_state(_q(status="received")) == "open"  # before routing answered


def test_the_team_does_not_call_what_is_not_theirs() -> None:
    from datetime import UTC, datetime

    from services.intake import domain

    assert domain.crisis_state(None) == "erased"
    assert domain.crisis_state(_q(erased_at=datetime.now(UTC))) == "erased"
    assert domain.crisis_state(_q(status="done")) == "done"
    assert domain.crisis_state(_q(status="routed")) == "with_contact"
    assert domain.crisis_state(_q(professional_help_advised=False)) == "not_crisis"
    assert "wrong_group" not in domain.TEAM_OUTCOMES
    assert set(domain.TEAM_OUTCOMES) - {"unreachable"} == domain.FINAL_OUTCOMES
