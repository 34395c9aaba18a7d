"""Log redaction held to the validators: every phone number and e-mail address that intake
(normalise_phone) or notify (clean_mobile, clean_email) accepts is scrubbed from a log line, in
every form they accept it in. The forms are found by asking the validators, so a validator that
starts accepting another separator or character fails here until the redaction catches up."""

from __future__ import annotations

import sys
import unicodedata
from functools import cache

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from opendeur.logging import REDACTED, redact
from services.intake.validation import FieldError, normalise_phone
from services.notify.api import clean_email, clean_mobile

DIGITS = "0123456789"
# Kinds of number a person has; 14 0xx municipal lines (five digits) and short service numbers
# are public and left alone, with anything else that short (ports, counts).
PERSONAL = (
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER,
)


def phone_accepted(raw: str) -> bool:
    try:
        normalise_phone(raw)
    except FieldError:
        return False
    return True


def mobile_accepted(raw: str) -> bool:
    try:
        return clean_mobile(raw) is not None
    except ValueError:
        return False


def email_accepted(raw: str) -> str | None:
    """The address as notify stores it, or None if refused."""
    try:
        return clean_email(raw)
    except ValueError:
        return None


def scrubbed(value: str) -> str:
    return redact(None, "warning", {"event": "x", "detail": f"bel <{value}> terug"})["detail"]


def assert_no_digits_left(form: str) -> None:
    out = scrubbed(form)
    assert not any(c.isdigit() for c in out), (form, out)


@cache
def separators() -> tuple[str, ...]:
    """Every character (BMP) either phone validator takes between the digits of a number."""
    found = []
    for c in map(chr, range(0x10000)):
        if c in DIGITS:
            continue
        if phone_accepted(f"06{c}12345678") or mobile_accepted(f"06{c}12345678"):
            found.append(c)
    return tuple(found)


def test_the_separators_found_include_the_ones_people_type() -> None:
    assert {" ", "\u00a0", "-", "\u2013", "\u2014", ".", "/", "(", ")"} <= set(separators())


def test_a_number_is_scrubbed_with_any_separator_the_validators_take() -> None:
    for c in separators():
        forms = [
            f"06{c}12345678",
            f"06{c}{c}12 34{c}56{c}78",
            f"{c}0612345678{c}",
            f"+31{c}6{c}12345678",
            f"+{c}31{c}(0){c}6{c}1234{c}5678",
            f"0031{c}6{c}12345678",
            f"010{c}123{c}45{c}67",
        ]
        for form in forms:
            if phone_accepted(form) or mobile_accepted(form):
                assert_no_digits_left(form)


def test_the_forms_people_write_are_accepted_and_scrubbed() -> None:
    forms = [
        "06-12 34 56 78",
        "+31 (0)6 1234 5678",
        "0031 6 12345678",
        "06/12345678",
        "06\u201312345678",
        "06\u201412345678",
        "06\u00a012345678",
        "06\u202f12 34 56 78",
        "06.12.34.56.78",
        "(06) 12345678",
        "(010) 123 45 67",
        "+ 31 6 12345678",
        "-0612345678-",
        "612345678",
        "+431110",  # the shortest valid number with a country code (Vienna)
        "+683 4002",  # Niue, four digits
        "00 683 4002",
    ]
    for form in forms:
        assert phone_accepted(form), form
        assert_no_digits_left(form)


def test_numbers_in_other_scripts_are_scrubbed_if_accepted() -> None:
    zeros = {
        chr(i - int(unicodedata.decimal(chr(i))))
        for i in range(sys.maxunicode + 1)
        if unicodedata.category(chr(i)) == "Nd"
    }
    for zero in zeros:
        form = "".join(chr(ord(zero) + int(d)) for d in "0612345678")
        if phone_accepted(form) or mobile_accepted(form):
            assert_no_digits_left(form)


def _personal_numbers() -> list[str]:
    """An example number of each personal kind for every region, in E.164 form."""
    numbers = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in PERSONAL:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.add(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    return sorted(numbers)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), number=st.sampled_from(_personal_numbers()), form=st.integers(0, 2))
def test_any_personal_number_in_any_accepted_form_is_scrubbed(
    data: st.DataObject, number: str, form: int
) -> None:
    if form == 1:
        number = "00" + number[1:]
    elif form == 2:
        parsed = phonenumbers.parse(number)
        if parsed.country_code != 31:
            return
        number = "0" + phonenumbers.national_significant_number(parsed)
    gaps = data.draw(
        st.lists(
            st.text(st.sampled_from(separators()), max_size=2),
            min_size=len(number) + 1,
            max_size=len(number) + 1,
        )
    )
    written = gaps[0] + "".join(c + gap for c, gap in zip(number, gaps[1:], strict=True))
    if phone_accepted(written) or mobile_accepted(written):
        assert_no_digits_left(written)


def _address_characters() -> list[str]:
    """The BMP's characters, letters, digits and private-use ones sampled (a stdlib header parse
    each, ~70 us): to both the validator and the redaction they are ordinary characters."""
    chars = map(chr, range(0x10000))
    return [
        c
        for i, c in enumerate(chars)
        if i < 128 or (not c.isalnum() and unicodedata.category(c) != "Co") or i % 97 == 0
    ]


def test_an_accepted_address_is_scrubbed_whole_whatever_character_it_holds() -> None:
    for c in _address_characters():
        for local in (f"qq{c}zz", f"{c}zz", f"qq{c}") if c.isascii() else (f"qq{c}zz",):
            address = email_accepted(f"{local}@example.org")
            if address:
                out = redact(None, "error", {"event": f"550 5.1.1 {address} rejected"})["event"]
                assert out == f"550 5.1.1 {REDACTED} rejected", (address, out)


def test_the_addresses_of_the_review_are_scrubbed_in_brackets_and_quotes() -> None:
    # All taken by notify when the review found them (clean_email refuses the ":" and "," ones
    # since, but they may be stored).
    addresses = [
        '"anna.devries"@example.org',
        "anna&bram@example.org",
        "anna/devries@example.org",
        "anna.o'brien@example.org",
        "ä:anna;@example.org",
        "änna,bob@example.org",
        "anna+notify@mail.example-school.nl",
        "anna@xn--bcher-kva.example",
        "ANNA_DE_VRIES@EXAMPLE.ORG",
    ]
    for address in addresses:
        for template in ("<{}>", "to={}", "'{}'", '"{}"', "{},bob@example.org", "({})"):
            out = scrubbed(template.format(address))
            for part in ("anna", "ANNA", "bob", "example", "EXAMPLE", "bcher"):
                assert part not in out, (address, template, out)


@settings(max_examples=300, deadline=None)
@given(
    local=st.text(st.characters(exclude_characters="@"), min_size=1, max_size=64),
    domain=st.from_regex(r"[A-Za-z0-9-]{1,20}(\.[A-Za-z0-9-]{1,12}){1,3}", fullmatch=True),
)
def test_any_accepted_address_is_scrubbed(local: str, domain: str) -> None:
    address = email_accepted(f"{local}@{domain}")
    if address:
        out = redact(None, "error", {"event": f"550 {address} rejected"})["event"]
        assert out == f"550 {REDACTED} rejected", (address, out)


def test_smtp_codes_versions_and_short_numbers_are_left_alone() -> None:
    for text in (
        "550 5.1.1 user unknown",
        "python 3.11.7",
        "port 46813",
        "14 020",  # a municipality's number
        "0800 1234",  # a free service number (intake takes it; no person's number is this short)
        "question 0193a4b2-7d9c-7b3e-1234-567890123456 routed",
        "seq 12345678",  # a count of up to eight digits stays readable
        "backup-20240501 of 2024-05-01",
        "reference OD-7K3M-Q9TX",
    ):
        assert redact(None, "info", {"event": text})["event"] == text, text
