"""Tests for the topic taxonomy and the postcode/region table."""

import re
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from services.routing import regions, taxonomy
from services.routing.regions import municipalities, municipality_for, region_of
from services.routing.taxonomy import guess_topic, label, topic, topic_codes, topics

REQUIRED_CODES = {
    "rouw",
    "depressie",
    "angst",
    "verslaving",
    "mantelzorg",
    "eenzaamheid",
    "burn-out",
    "autisme",
    "adhd",
    "chronische-pijn",
    "scheiding",
    "eetstoornis",
}

ZUIDOOST_BRABANT = {
    "Asten",
    "Bergeijk",
    "Best",
    "Bladel",
    "Cranendonck",
    "Deurne",
    "Eersel",
    "Eindhoven",
    "Geldrop-Mierlo",
    "Gemert-Bakel",
    "Heeze-Leende",
    "Helmond",
    "Laarbeek",
    "Nuenen",
    "Oirschot",
    "Reusel-De Mierden",
    "Someren",
    "Son en Breugel",
    "Valkenswaard",
    "Veldhoven",
    "Waalre",
}


# --- taxonomy -------------------------------------------------------------------------


def test_taxonomy_has_the_required_topics_with_both_labels():
    assert REQUIRED_CODES <= topic_codes()
    assert 25 <= len(topics()) <= 40
    for t in topics():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", t.code), t.code
        assert t.nl.strip() and t.en.strip()


def test_topic_codes_are_unique():
    codes = [t.code for t in topics()]
    assert len(codes) == len(set(codes))


def test_no_word_points_at_two_topics():
    owner: dict[str, str] = {}
    for t in topics():
        for term in (t.code, t.nl, t.en, *t.synonyms):
            norm = taxonomy._normalize(term)
            assert owner.setdefault(norm, t.code) == t.code, (term, owner[norm], t.code)


def test_topic_lookup_and_labels():
    assert topic("rouw").nl == "Rouw en verlies"
    assert topic("rouw").en == "Grief and loss"
    assert topic("bestaat-niet") is None
    assert label("rouw", "nl") == "Rouw en verlies"
    assert label("rouw", "en") == "Grief and loss"
    assert label("onbekend-onderwerp", "nl") == "onbekend-onderwerp"


def test_topics_keep_file_order_and_are_cached():
    assert topics() is topics()
    assert topics()[0].code == "rouw"


def test_guess_topic_finds_synonym_in_a_question():
    assert guess_topic("Mijn moeder is vorige maand overleden en ik mis haar") == "rouw"
    assert guess_topic("Ik denk dat ik een burn-out heb") == "burn-out"
    assert guess_topic("sinds kort BURNOUT, wie herkent dit?") == "burn-out"
    assert guess_topic("Ik zorg al jaren als mantelzorger voor mijn man") == "mantelzorg"


def test_guess_topic_matches_labels_and_codes():
    assert guess_topic("Ik zoek een groep over chronische pijn") == "chronische-pijn"
    assert guess_topic("adhd") == "adhd"
    assert guess_topic("Grief and loss") == "rouw"


def test_guess_topic_ignores_case_and_diacritics():
    assert guess_topic("ik ben al maanden DEPRESSIEF") == "depressie"
    assert guess_topic("Mijn broer koos voor suïcide") == "nabestaanden-suicide"
    assert guess_topic("Mijn broer koos voor suicide") == "nabestaanden-suicide"
    assert guess_topic("ik voel me erg geïsoleerd") == "eenzaamheid"


def test_guess_topic_needs_whole_words():
    # "pijnlijk" contains no topic word; "angstig" is a synonym, "angsthaas" is not
    assert guess_topic("Dat was pijnlijk") is None
    assert guess_topic("mijn zoon is een angsthaas") is None
    assert guess_topic("ik ben vaak angstig") == "angst"


def test_guess_topic_returns_none_when_ambiguous_or_absent():
    assert guess_topic("depressie en angst na een scheiding") is None
    assert guess_topic("Goedemiddag, kunt u mij terugbellen?") is None
    assert guess_topic("") is None


@given(st.text(max_size=200))
def test_guess_topic_returns_a_known_code_or_none(text):
    assert guess_topic(text) in topic_codes() | {None}


# --- regions --------------------------------------------------------------------------


def test_all_21_municipalities_of_zuidoost_brabant_are_present():
    assert set(municipalities()) == ZUIDOOST_BRABANT
    assert list(municipalities()) == sorted(municipalities())
    for m in municipalities():
        assert region_of(m) == "Zuidoost-Brabant"


def test_pc4_ranges_are_valid_and_do_not_overlap():
    rows = regions.pc_ranges()
    for r in rows:
        assert 1000 <= r.pc4_from <= r.pc4_to <= 9999
    for a, b in pairwise(rows):
        assert a.pc4_to < b.pc4_from, (a, b)


def test_eindhoven_and_helmond_map_right():
    for pc in range(5611, 5659):
        assert municipality_for(str(pc)) == "Eindhoven"
    for pc in range(5701, 5710):
        assert municipality_for(str(pc)) == "Helmond"
    assert municipality_for("5610") != "Eindhoven"
    assert municipality_for("5659") != "Eindhoven"


def test_known_postcodes_map_to_their_municipality():
    assert municipality_for("5504") == "Veldhoven"
    assert municipality_for("5682") == "Best"
    assert municipality_for("5731") == "Geldrop-Mierlo"
    assert municipality_for("5664") == "Geldrop-Mierlo"
    assert municipality_for("5671") == "Nuenen"
    assert municipality_for("5583") == "Waalre"


def test_postcodes_outside_the_region_or_invalid_map_to_none():
    assert municipality_for("1012") is None  # Amsterdam
    assert municipality_for(None) is None
    assert municipality_for("") is None
    assert municipality_for("56") is None
    assert municipality_for("abcd") is None
    assert municipality_for("56111") is None


def test_full_postcode_is_accepted():
    assert municipality_for("5611 AB") == "Eindhoven"
    assert municipality_for(" 5701ab ") == "Helmond"


def test_region_of_unknown_municipality_is_none():
    assert region_of("Amsterdam") is None
    assert region_of(None) is None


@given(st.integers(min_value=1000, max_value=9999))
def test_every_pc4_maps_to_at_most_one_known_municipality(pc):
    found = municipality_for(str(pc))
    owners = [r.municipality for r in regions.pc_ranges() if r.pc4_from <= pc <= r.pc4_to]
    assert len(owners) <= 1
    assert found == (owners[0] if owners else None)
