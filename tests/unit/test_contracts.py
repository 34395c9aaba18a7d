"""The event contracts cannot carry personal data, and the AsyncAPI document matches the code and
validates with the AsyncAPI CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from fnmatch import fnmatch
from pathlib import Path
from types import SimpleNamespace

import pytest
from jsonschema import Draft7Validator
from pydantic import ValidationError

from contracts import asyncapi
from contracts.events import CODE_PATTERN, EVENT_TYPES, REFERENCE_PATTERN, QuestionRouted
from contracts.streams import (
    CONSUMERS,
    DEADLETTER_PREFIX,
    DEADLETTER_STREAM,
    STREAMS,
    deadletter_subject,
)
from opendeur import messaging
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


# The AsyncAPI document as an outside client generator reads it.

ASYNCAPI_CLI = "@asyncapi/cli@4.1.1"
KEY = re.compile(r"^[\w\d\.\-_]+$")  # AsyncAPI 3.0's pattern for channel, operation, component keys


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads((ROOT / "contracts" / "asyncapi.json").read_text())


def test_every_key_matches_the_asyncapi_key_pattern(document) -> None:
    keys = [*document["channels"], *document["operations"], *document["servers"]]
    keys += [k for section in document["components"].values() for k in section]
    keys += [k for c in document["channels"].values() for k in c.get("messages", {})]
    assert keys and [k for k in keys if not KEY.fullmatch(k)] == []
    refs = re.findall(r'"\$ref": "([^"]*)"', json.dumps(document))
    assert refs and [r for r in refs if ":" in r] == []


def test_bindings_are_nats_bindings_not_custom(document) -> None:
    assert '"custom"' not in json.dumps(document)
    for key, op in document["operations"].items():
        assert op["bindings"] == {"nats": op["bindings"]["nats"]}, key
        assert op["bindings"]["nats"]["bindingVersion"] == "0.1.0", key
    durables = {spec.durable for spec in CONSUMERS}
    queues = {
        op["bindings"]["nats"].get("queue")
        for op in document["operations"].values()
        if op["action"] == "receive"
    }
    assert queues == durables
    assert document["servers"]["nats"]["protocol"] == "nats"


def test_every_event_message_documents_the_nats_msg_id_header(document) -> None:
    messages = document["components"]["messages"]
    events = [m for name, m in messages.items() if name != "DeadLetter"]
    assert len(events) >= len(EVENT_TYPES)
    for message in events:
        header = message["headers"]["properties"]["Nats-Msg-Id"]
        assert header["format"] == "uuid" and "duplicate" in header["description"]
        assert "correlationId" not in message  # nothing sends FastStream's correlation_id


def test_every_consumer_has_its_dead_letter_subject_documented(document) -> None:
    for spec in CONSUMERS:
        channel = document["channels"][f"deadletter.{spec.durable}"]
        assert channel["address"] == deadletter_subject(spec.durable)
        assert channel["address"].startswith(DEADLETTER_PREFIX + ".")
        op = document["operations"][f"deadletter.{spec.durable}"]
        assert op["action"] == "send"
    (stream,) = [s for s in STREAMS if s.name == DEADLETTER_STREAM]
    for spec in CONSUMERS:  # the stream really holds what the document says
        subject = deadletter_subject(spec.durable)
        assert any(fnmatch(subject, s.replace(">", "*")) for s in stream.subjects), subject


async def test_the_dead_letter_headers_the_code_sets_are_the_documented_ones(document) -> None:
    """messaging.dead_letter's real headers, checked against the document's header schema."""
    published: list[tuple[str, bytes, dict]] = []

    class JetStream:
        async def publish(self, subject: str, body: bytes, headers: dict, timeout: float) -> None:
            published.append((subject, body, headers))

    spec = CONSUMERS[0]
    meta = SimpleNamespace(sequence=SimpleNamespace(stream=41))
    for reason, size in (("max_deliveries", 10), ("invalid:validationerror", 2_000_000)):
        raw = SimpleNamespace(metadata=meta, subject=spec.subject, data=b"x" * size)
        await messaging.dead_letter(JetStream(), spec, raw, reason)
    schema = document["components"]["messages"]["DeadLetter"]["headers"]
    assert [p[0] for p in published] == [deadletter_subject(spec.durable)] * 2
    for _, _, headers in published:
        errors = [e.message for e in Draft7Validator(schema).iter_errors(headers)]
        assert errors == [], errors
        assert set(headers) <= set(schema["properties"]), set(headers) - set(schema["properties"])
    assert "Opendeur-Body-Omitted" in published[1][2]


def test_the_asyncapi_cli_validates_the_document(tmp_path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npx (Node.js) is missing: the AsyncAPI CLI cannot run")
        pytest.skip("npx not installed")
    settings = tmp_path / "asyncapi-analytics"  # no usage reports from a test run
    settings.write_text('{"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "-"}')
    env = {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(settings), "CI": "true"}
    result = subprocess.run(
        [npx, "--yes", ASYNCAPI_CLI, "validate", str(ROOT / "contracts" / "asyncapi.json")],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "is valid" in out and "0 errors" in out, out


def test_the_asyncapi_cli_refuses_a_broken_document(tmp_path) -> None:
    """The CLI check is not vacuous: a channel whose message points nowhere fails it."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx not installed (the test above fails in CI)")
    doc = asyncapi.build()
    doc["channels"]["intake.callback.done.v1"]["messages"]["Message"]["$ref"] += "-gone"
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(doc))
    settings = tmp_path / "asyncapi-analytics"
    settings.write_text('{"analyticsEnabled": "false", "infoMessageShown": "true", "userID": "-"}')
    env = {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(settings), "CI": "true"}
    result = subprocess.run(
        [npx, "--yes", ASYNCAPI_CLI, "validate", str(broken)],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout + result.stderr
