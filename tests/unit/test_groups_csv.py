"""The groups CSV: the optional `languages` column (old files still import, Dutch)."""

from __future__ import annotations

import pytest

from services.routing.groups import ImportError_, parse_csv

HEADER = "group_name,topics,municipalities,online,contact_name,contact_email,max_open"
ROW = "Rouwgroep Eindhoven,rouw,Eindhoven,no,Anna Rouw,anna.rouw@example.org,3"


def test_a_file_without_the_languages_column_imports_everyone_as_dutch() -> None:
    (row,) = parse_csv(f"{HEADER}\n{ROW}\n")
    assert row.languages == ("nl",)


@pytest.mark.parametrize(
    ("cell", "languages"),
    [("en;nl", ("en", "nl")), (" NL ; en ", ("nl", "en")), ("", ("nl",)), ("en;en", ("en",))],
)
def test_the_languages_column_keeps_the_contacts_order_her_first_first(
    cell: str, languages: tuple[str, ...]
) -> None:
    (row,) = parse_csv(f"{HEADER},languages\n{ROW},{cell}\n")
    assert row.languages == languages


def test_an_unknown_language_refuses_the_file_naming_the_line_not_the_person() -> None:
    with pytest.raises(ImportError_) as refused:
        parse_csv(f"{HEADER},languages\n{ROW},nl\n{ROW},nl;fr\n")
    message = str(refused.value)
    assert "line 3" in message and "languages" in message
    assert "anna" not in message.lower()


def test_a_header_with_another_extra_column_is_refused() -> None:
    with pytest.raises(ImportError_, match="header"):
        parse_csv(f"{HEADER},phone\n{ROW},0612345678\n")
