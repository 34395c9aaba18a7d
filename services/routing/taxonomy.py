"""Topic taxonomy of the self-help network: codes, Dutch/English labels and synonyms."""

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.resources import files


@dataclass(frozen=True)
class Topic:
    code: str
    nl: str
    en: str
    synonyms: tuple[str, ...]


@cache
def topics() -> tuple[Topic, ...]:
    """All topics, in the order of the data file."""
    raw = json.loads(files("services.routing").joinpath("data/topics.json").read_text("utf-8"))
    return tuple(
        Topic(code=t["code"], nl=t["nl"], en=t["en"], synonyms=tuple(t.get("synonyms", ())))
        for t in raw
    )


@cache
def _by_code() -> dict[str, Topic]:
    return {t.code: t for t in topics()}


def topic(code: str) -> Topic | None:
    """The topic with this code, or None."""
    return _by_code().get(code)


def topic_codes() -> frozenset[str]:
    """All known topic codes."""
    return frozenset(_by_code())


def label(code: str, lang: str) -> str:
    """The label of a topic in `lang` ("nl" or "en"; anything else gives Dutch).

    An unknown code is returned as-is so a screen never shows an empty label.
    """
    t = topic(code)
    if t is None:
        return code
    return t.en if lang == "en" else t.nl


def _normalize(text: str) -> str:
    """Lowercase, strip diacritics, and turn every run of non-alphanumerics into one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", ascii_only.lower()))


@cache
def _terms() -> tuple[tuple[str, str], ...]:
    """(normalized term, code) for every code, label and synonym."""
    pairs = set()
    for t in topics():
        for term in (t.code, t.nl, t.en, *t.synonyms):
            norm = _normalize(term)
            if norm:
                pairs.add((norm, t.code))
    return tuple(sorted(pairs))


def guess_topic(text: str) -> str | None:
    """Suggest a topic code for a free-text question.

    Returns the code when terms of exactly one topic occur as whole words (case- and
    diacritics-insensitive); None when no topic or more than one topic is mentioned.
    """
    padded = f" {_normalize(text)} "
    found = {code for term, code in _terms() if f" {term} " in padded}
    return found.pop() if len(found) == 1 else None
