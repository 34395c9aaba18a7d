"""Tests for normalising the phone number, postcode and story a help-seeker types."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.validation import (
    RAW_MAX_CHARS,
    STORY_MAX_CHARS,
    FieldError,
    normalise_phone,
    normalise_postcode,
    normalise_story,
)
from services.intake.web.i18n import error_message

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+31 6 12345678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("06-12345678", "+31612345678"),
        ("06 1234 5678", "+31612345678"),
        ("0612345678", "+31612345678"),
        ("  06 12 34 56 78  ", "+31612345678"),
        ("(040) 123 4567", "+31401234567"),
        ("020-1234567", "+31201234567"),
        ("+32 470 12 34 56", "+32470123456"),
        ("+44 20 7946 0958", "+442079460958"),
        ("06.12.34.56.78", "+31612345678"),
        ("+31 (0)6 1234 5678", "+31612345678"),
        ("0031 (0)6-12 34 56 78", "+31612345678"),
        ("06\u201312345678", "+31612345678"),
        ("06\u00a012345678", "+31612345678"),
        ("\t06 1234\n5678\r\n", "+31612345678"),
        ("06/12345678", "+31612345678"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert normalise_phone(raw) == expected


REJECTED_PHONES = [
    "",
    "   ",
    "06",
    "0612",
    "061234567",
    "12345",
    "112",
    "bel me maar",
    "06-1234567a",
    "+31 6 12345678 of 06 87654321 of 06 11223344",
    "+99 123 456 789",
]


@pytest.mark.parametrize("raw", REJECTED_PHONES)
def test_invalid_phone_numbers_are_rejected(raw: str) -> None:
    with pytest.raises(FieldError) as info:
        normalise_phone(raw)
    assert info.value.code == "invalid_phone"
    assert info.value.field == "phone"


def test_a_phone_number_padded_with_long_runs_of_whitespace_is_accepted() -> None:
    assert normalise_phone("06" + " " * 300 + "12345678" + "\n" * 50) == "+31612345678"


def test_more_than_the_raw_limit_or_too_many_digits_is_rejected() -> None:
    for raw in ("06" + " " * RAW_MAX_CHARS + "12345678", "06" + "1" * 40, "+31 6 1234"):
        with pytest.raises(FieldError) as info:
            normalise_phone(raw)
        assert info.value.code == "invalid_phone"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("5611", "5611"),
        ("5611 AB", "5611"),
        ("5611AB", "5611"),
        ("5611 ab", "5611"),
        ("  5611 AB  ", "5611"),
        ("1011ab", "1011"),
        ("9999", "9999"),
        ("5611-AB", "5611"),
        ("5611\u00a0AB", "5611"),
        ("\t5611" + " " * 500 + "ab\n", "5611"),
    ],
)
def test_postcodes_are_reduced_to_four_digits(raw: str, expected: str) -> None:
    assert normalise_postcode(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_postcode_is_none(raw: str | None) -> None:
    assert normalise_postcode(raw) is None


@pytest.mark.parametrize(
    "raw",
    ["0611", "0611 AB", "56111", "561", "ABCD", "5611 A", "5611 ABC", "5611 AB 12", "5" * 2000],
)
def test_invalid_postcodes_are_rejected(raw: str) -> None:
    with pytest.raises(FieldError) as info:
        normalise_postcode(raw)
    assert info.value.code == "invalid_postcode"
    assert info.value.field == "postcode"


def test_story_is_stripped_and_empty_story_is_none() -> None:
    assert normalise_story("  Ik zoek lotgenoten.\n") == "Ik zoek lotgenoten."
    assert normalise_story(None) is None
    assert normalise_story("") is None
    assert normalise_story(" \n\t ") is None
    assert normalise_story("\x00\x01 ") is None


def test_story_loses_control_characters_but_keeps_newlines_and_tabs() -> None:
    raw = "Regel een\x00\x07\r\nRegel\ttwee\x1b"
    assert normalise_story(raw) == "Regel een\nRegel\ttwee"


def test_story_up_to_the_limit_is_accepted_and_longer_is_rejected() -> None:
    assert normalise_story("a" * STORY_MAX_CHARS) == "a" * STORY_MAX_CHARS
    with pytest.raises(FieldError) as info:
        normalise_story("a" * (STORY_MAX_CHARS + 1))
    assert info.value.code == "story_too_long"
    assert info.value.field == "story"


def test_surrounding_whitespace_does_not_count_towards_story_limit() -> None:
    assert normalise_story("  " + "a" * STORY_MAX_CHARS + "\n\n") == "a" * STORY_MAX_CHARS


def test_field_error_has_a_code_and_people_read_the_catalogue() -> None:
    with pytest.raises(FieldError) as info:
        normalise_phone("06")
    error = info.value
    assert isinstance(error, ValueError)
    assert error.message == str(error) and "phone number" in error.message
    assert "telefoonnummer" in error_message(error.code, "nl")
    assert "phone number" in error_message(error.code, "en")


@pytest.mark.parametrize(
    ("func", "raw"),
    [(normalise_phone, raw) for raw in ["0612345", "+31 6 1234 56789 0", "0800 123", "06123"]]
    + [(normalise_postcode, raw) for raw in ["0611", "56111", "123456 AB", "5611 A"]],
)
def test_error_messages_never_echo_the_digits_typed(func, raw: str) -> None:
    with pytest.raises(FieldError) as info:
        func(raw)
    error = info.value
    typed_digits = re.sub(r"\D", "", raw)
    # What people read is the catalogue's text for the code (its fixed examples may hold
    # digits); the exception itself holds none.
    for text in (str(error), repr(error)):
        assert typed_digits not in re.sub(r"\D", "", text)
        assert raw.strip() not in text


@given(st.text(max_size=60) | st.text(alphabet="0123456789+-() ./", max_size=40))
def test_normalise_phone_returns_e164_or_raises_field_error(raw: str) -> None:
    try:
        result = normalise_phone(raw)
    except FieldError as error:
        assert error.code == "invalid_phone"
    else:
        assert result.startswith("+")
        assert result[1:].isdigit()


def test_the_catalogue_intake_ships_is_routings() -> None:
    """Intake validates topics against contracts/topics.json (it may not import routing): the
    same codes and labels, in the same order, as routing's own data file."""
    from contracts import topics as shipped

    routing = json.loads((ROOT / "services/routing/data/topics.json").read_text("utf-8"))
    assert [{k: t[k] for k in ("code", "nl", "en")} for t in routing] == list(shipped.catalogue())
    assert {"rouw", "depressie", "burn-out", "chronische-pijn"} <= shipped.codes()


async def test_a_code_shaped_topic_outside_the_catalogue_is_unknown_with_routing_down() -> None:
    from services.intake.topics import TopicCatalogue

    down = TopicCatalogue("http://127.0.0.1:9")  # nothing listens on the discard port
    assert await down.is_known("rouw")
    assert not await down.is_known("mijn-buurman-jan-de-vries")
    assert await down.known_or_none("x" * 40) is None
    assert [t["code"] for t in await down.all()][:2] == ["rouw", "depressie"]


def test_a_reference_is_od_and_two_groups_of_four_from_the_unambiguous_alphabet() -> None:
    """Every character of the alphabet turns up and each about equally often (a byte's
    remainder without the rejection of the top bytes would favour the first 8 characters by
    1/8), and no O, 0, I, 1 or L is ever written."""
    from collections import Counter

    from services.intake.domain import _ALPHABET, new_reference

    refs = [new_reference() for _ in range(20_000)]
    assert all(re.fullmatch(r"OD-[A-Z2-9]{4}-[A-Z2-9]{4}", r) for r in refs)
    counts = Counter(c for r in refs for c in r[3:7] + r[8:12])
    assert set(counts) == set(_ALPHABET)
    expected = 160_000 / len(_ALPHABET)  # 5,161 each (σ ≈ 72); the bias would give 5,625 to 8
    # characters: 9 % over, caught at 6.5 % (4.7 σ, a false alarm about once in 10,000 runs)
    assert all(abs(n - expected) < 0.065 * expected for n in counts.values()), counts
    assert len(set(refs)) > 19_990
