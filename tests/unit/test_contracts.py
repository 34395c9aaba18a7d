"""The event contracts cannot carry personal data, and the AsyncAPI document matches the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts import asyncapi
from contracts.events import CODE_PATTERN, EVENT_TYPES, REFERENCE_PATTERN, QuestionRouted
from contracts.streams import CONSUMERS, STREAMS
from tests.support import routed_values

ROOT = Path(__file__).resolve().parents[2]
SAFE_STRING_FORMATS = {"uuid", "date-time"}
SAFE_PATTERNS = {CODE_PATTERN, REFERENCE_PATTERN, r"^[1-9][0-9]{3}$"}
PERSONAL = re.compile(r"story|phone|name|address|email|mail|text|note|message|comment|body", re.I)


def _leaf_schemas(schema: dict, defs: dict) -> list[dict]:
    if "$ref" in schema:
        return _leaf_schemas(defs[schema["$ref"].split("/")[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return [leaf for s in schema[key] for leaf in _leaf_schemas(s, defs)]
    return [schema]


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda c: c.subject)
def test_no_event_field_can_carry_free_text(event_type: type) -> None:
    schema = event_type.model_json_schema()
    assert schema.get("additionalProperties") is False
    for field, prop in schema["properties"].items():
        assert not PERSONAL.search(field), f"{event_type.subject}.{field} sounds personal"
        for leaf in _leaf_schemas(prop, schema.get("$defs", {})):
            kind = leaf.get("type")
            if kind == "string":
                assert (
                    "const" in leaf
                    or "enum" in leaf
                    or leaf.get("format") in SAFE_STRING_FORMATS
                    or leaf.get("pattern") in SAFE_PATTERNS
                ), f"{event_type.subject}.{field} is free text"
            else:
                assert kind in ("boolean", "integer", "null"), (
                    f"{event_type.subject}.{field}: {kind}"
                )


@pytest.mark.parametrize(
    "field,value",
    [
        ("topic", "Ik voel me zo alleen sinds mijn vrouw overleed"),
        ("contact_id", "+31612345678"),
        ("municipality", "Stratumsedijk 12, Eindhoven"),
        ("reason", "Jan de Vries"),
        ("reference", "0612345678"),
    ],
)
def test_personal_data_is_refused_by_the_contract(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        QuestionRouted(**routed_values(**{field: value}))


def test_extra_fields_are_refused_and_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        QuestionRouted(**routed_values(), story="iets")
    event = QuestionRouted(**routed_values())
    with pytest.raises(ValidationError):
        event.topic = "angst"  # type: ignore[misc]
    assert QuestionRouted.from_bytes(event.to_bytes()) == event


def test_names_follow_the_house_rules() -> None:
    for cls in EVENT_TYPES:
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.v\d+", cls.subject)
    for spec in CONSUMERS:
        assert "." not in spec.durable and len(spec.durable) < 32
    consumed = {c.subject for c in CONSUMERS} - {">"}
    assert consumed <= set(STREAMS[0].subjects)


def test_asyncapi_document_is_up_to_date() -> None:
    checked_in = (ROOT / "contracts" / "asyncapi.json").read_text()
    assert checked_in == asyncapi.render(), "contracts/asyncapi.json is stale: run `make asyncapi`"
    doc = asyncapi.build()
    assert set(doc["components"]["schemas"]) >= {cls.__name__ for cls in EVENT_TYPES}
