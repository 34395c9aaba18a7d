"""The catalogue format of the services' pages: `{key: {"nl": text, "en": text}}`, with the one
translator, language pick and completeness check every service's `web/i18n.py` uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping

LANGS = ("nl", "en")
DEFAULT = "nl"
Catalogue = Mapping[str, Mapping[str, str]]


def translator(catalogue: Catalogue, lang: str) -> Callable[..., str]:
    """`t("key", max=20)`: the text in `lang`, with named fields filled in."""

    def t(key: str, **fields: object) -> str:
        text = catalogue[key][lang]
        return text.format(**fields) if fields else text

    return t


def pick(*candidates: object) -> str:
    """The first candidate that is a language we speak (query, header, ...), else Dutch."""
    for c in candidates:
        if isinstance(c, str) and c.strip().lower()[:2] in LANGS:
            return c.strip().lower()[:2]
    return DEFAULT


def missing(catalogue: Catalogue) -> dict[str, set[str]]:
    """Keys without a text in some language (each service's test keeps this empty)."""
    return {
        k: {lang for lang in LANGS if not v.get(lang)}
        for k, v in catalogue.items()
        if not all(v.get(lang) for lang in LANGS)
    }
