"""The one staff header (opendeur/web.py, opendeur/templates/staff_page.html): which pages a
person's roles put in the nav, and the refused, failed and signed-out pages in the staff look."""

from __future__ import annotations

import re

import pytest

from opendeur import web
from opendeur.settings import Settings
from opendeur.staff import Staff, StaffGate

FORMAL = re.compile(r"\b(u|uw|Uw|U)\b")


def settings() -> Settings:
    return Settings(network_name="Netwerk Helmond", secret_key="x" * 40)


@pytest.mark.parametrize(
    ("roles", "labels"),
    [
        ({"telefoonvrijwilliger"}, ["Overzicht", "Telefoon"]),
        ({"teamlid"}, ["Overzicht", "Triage", "Crisis"]),
        ({"coordinator"}, ["Overzicht", "Contactpersonen", "Accounts"]),
        ({"beheerder"}, ["Overzicht", "Console", "Rapport"]),
        ({"rapportage"}, ["Overzicht", "Rapport"]),
    ],
)
def test_the_nav_holds_only_what_the_roles_open(roles: set[str], labels: list[str]) -> None:
    links = web.staff_nav(settings(), frozenset(roles), "audit/report")
    assert [link.label for link in links] == labels
    assert [link.label for link in links if link.current] == (
        ["Rapport"] if "Rapport" in labels else []
    )
    report = [link.url for link in links if link.label == "Rapport"]
    assert all(re.search(r"/report\?month=20\d\d-\d\d$", url) for url in report)


def test_a_refused_page_is_403_in_the_staff_look_and_names_nothing_else() -> None:
    gate = StaffGate(settings(), "audit")
    got = gate.refused(Staff("st-1", frozenset({"teamlid"}), "n1", "anna"))
    html = got.body.decode()
    assert got.status_code == 403 and got.headers["cache-control"] == "no-store"
    assert 'id="staff-header"' in html and "Netwerk Helmond" in html
    assert '<strong id="staff-name">anna</strong>' in html
    assert '<link rel="stylesheet" href="/network.css">' in html
    assert "<h1>Geen toegang</h1>" in html and "Afmelden" in html
    assert ">Triage<" in html and ">Console<" not in html  # only her own pages
    assert not FORMAL.search(re.sub(r"<[^>]+>", " ", html))


def test_a_failed_sign_in_and_a_sign_out_look_the_same_and_say_je() -> None:
    gate = StaffGate(settings(), "notify")
    for response, heading in (
        (
            web.kit_page("staff_failed.html", 403, gate.settings, intake=gate.intake, lang="nl"),
            "Aanmelden mislukt",
        ),
        (gate.sign_out(), "Afgemeld"),
    ):
        html = response.body.decode()
        assert 'id="staff-header"' in html and f"<h1>{heading}</h1>" in html
        assert "Netwerk Helmond" in html and "staff-nav" not in html  # no one to show a nav for
        assert not FORMAL.search(re.sub(r"<[^>]+>", " ", html))
