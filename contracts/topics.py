"""The fixed topic catalogue every service may rely on (codes with Dutch and English labels)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files


@cache
def catalogue() -> tuple[dict[str, str], ...]:
    """Every topic as {code, nl, en}, in the order of contracts/topics.json."""
    raw = json.loads(files("contracts").joinpath("topics.json").read_text("utf-8"))
    return tuple({"code": t["code"], "nl": t["nl"], "en": t["en"]} for t in raw)


@cache
def codes() -> frozenset[str]:
    return frozenset(t["code"] for t in catalogue())
