"""notify's address check at entry: an address a mail header cannot say is refused (422), every
real-world form (quoted, SMTPUTF8 local parts, punycode domains, odd dots) still taken."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notify.api import ContactIn, clean_email

REAL = [
    "anna@example.org",
    "anna.de.vries+notify@mail.example-school.nl",
    "o'brien@example.ie",
    "anna&bram@example.org",
    "a!#$%*/=?^_`{|}~-@example.org",
    '"anna.devries"@example.org',
    "änna@example.org",
    "анна@xn--e1afmkfd.xn--p1ai",
    "用户@xn--fsqu00a.xn--3lr804guic",
    "taro..yamada.@docomo.ne.jp",
    "ANNA@123.EXAMPLE.ORG",
]
UNSAYABLE = [
    "ä:anna;@example.org",
    "anna:bram;@example.org",
    "änna,bob@example.org",
    "anna,bob@example.org",
    "ä<anna>@example.org",
    'änna"@example.org',
    "anna(x@example.org",
    "=?utf-8?q?anna?=ä@example.org",
    "anna\x00@example.org",
]


@pytest.mark.parametrize("address", REAL)
def test_real_world_addresses_are_taken(address: str) -> None:
    assert clean_email(f" {address} ") == address


@pytest.mark.parametrize("address", UNSAYABLE)
def test_an_address_a_mail_cannot_say_is_refused(address: str) -> None:
    with pytest.raises(ValueError):
        clean_email(address)
    with pytest.raises(ValidationError):
        ContactIn(email=address)
