"""Generates the AsyncAPI 3.0 document from the contracts: `python -m contracts.asyncapi`."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

from faststream.nats import JStream, NatsBroker, PullSub
from faststream.specification import AsyncAPI

from contracts.events import BY_SUBJECT, EVENT_TYPES, Event
from contracts.streams import (
    CONSUMERS,
    DEADLETTER_STREAM,
    EVENTS_STREAM,
    STREAMS,
    deadletter_subject,
)


def publishers(cls: type[Event]) -> tuple[str, ...]:
    """The services that publish an event: its source field's type lists them (the same rule
    opendeur/natsauth.py grants NATS publish permissions by), the default first."""
    allowed = get_args(cls.model_fields["source"].annotation)
    default = cls.model_fields["source"].default
    return (default, *(s for s in allowed if s != default))


PUBLISHERS = {cls.subject: publishers(cls) for cls in EVENT_TYPES}
# A channel is named after its publishers: 'routing.question.routed.v1', and for an event more
# than one service publishes 'routing-notify.staff.acted.v1' (AsyncAPI keys have no '+' or ',').
CHANNEL = {subject: f"{'-'.join(who)}.{subject}" for subject, who in PUBLISHERS.items()}
# AsyncAPI 3.0: keys of channels, operations and components match this (no ':').
KEY = re.compile(r"^[\w\d\.\-_]+$")
NATS_BINDING = "0.1.0"
SERVER = "nats"
DUPLICATE_WINDOW_S = int(next(s for s in STREAMS if s.name == EVENTS_STREAM).duplicate_window_s)

EVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["Nats-Msg-Id"],
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "format": "uuid",
            "description": (
                "The event's event_id, set by the outbox relay: JetStream drops a second publish "
                f"with the same id within the stream's {DUPLICATE_WINDOW_S} s duplicate window, "
                "so a relay that publishes again after a crash stores the event once."
            ),
        }
    },
}
DEAD_LETTER_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": [
        "Opendeur-Reason",
        "Opendeur-Subject",
        "Opendeur-Consumer",
        "Opendeur-Stream-Seq",
        "Nats-Msg-Id",
    ],
    "properties": {
        "Opendeur-Reason": {
            "type": "string",
            "pattern": r"^(max_deliveries|invalid:[a-z_]+)$",
            "description": "max_deliveries, or invalid:<error type> for a body the contract refused",
        },
        "Opendeur-Subject": {"type": "string", "description": "the original subject"},
        "Opendeur-Consumer": {"type": "string", "description": "the durable that gave up"},
        "Opendeur-Stream-Seq": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": f"the original's sequence in {EVENTS_STREAM} (where it stays)",
        },
        "Nats-Msg-Id": {
            "type": "string",
            "pattern": "^dl-.+-[0-9]+$",
            "description": "dl-<consumer>-<stream seq>: one dead letter per message and consumer",
        },
        "Opendeur-Body-Omitted": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "set (to the original's size) when the body was too big to copy",
        },
    },
}


def _faststream_document() -> dict[str, Any]:
    broker = NatsBroker("nats://nats.invalid:4222", description="opendeur events on NATS JetStream")
    stream = JStream(EVENTS_STREAM, declare=False)
    for cls in EVENT_TYPES:
        broker.publisher(
            cls.subject,
            stream=stream,
            schema=cls,
            title=CHANNEL[cls.subject],
            description=(cls.__doc__ or "").strip(),
        )
    for spec in CONSUMERS:
        event_type: type[Event] | None = BY_SUBJECT.get(spec.subject)

        def handler(event: Any) -> None:  # documentation only; never started
            return None

        if event_type is not None:
            handler.__annotations__ = {"event": event_type, "return": None}
        broker.subscriber(
            spec.subject,
            stream=stream,
            durable=spec.durable,
            pull_sub=PullSub(),
            title=spec.durable,
            description=f"{spec.service} consumes {spec.subject}",
        )(handler)
    spec_doc = AsyncAPI(
        broker,
        title="opendeur",
        version="1.0.0",
        description="Events between intake, routing, notify and audit. "
        "Ids, codes, times and flags only: never a story, phone number, name or address. "
        f"Events live in the JetStream stream {EVENTS_STREAM}; a message a consumer cannot "
        f"handle goes to {DEADLETTER_STREAM} on deadletter.<consumer>.",
    )
    return json.loads(spec_doc.to_specification().to_json())


def _safe_keys(value: Any) -> Any:
    """FastStream names components '<title>:Message' and '<title>:Message:Payload'; the spec's
    key pattern has no ':'. Keys and the $refs that point at them get '.' instead."""
    if isinstance(value, dict):
        return {
            k.replace(":", "."): (v.replace(":", ".") if k in ("$ref", "title") else _safe_keys(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_safe_keys(v) for v in value]
    return value


def build() -> dict[str, Any]:
    doc = _safe_keys(_faststream_document())
    (server,) = doc.pop("servers").values()
    server.pop("protocolVersion", None)  # FastStream writes "custom"
    server.pop("pathname", None)
    server["description"] = "the NATS cluster (each service its own user)"
    server["security"] = [{"$ref": "#/components/securitySchemes/natsUser"}]
    doc["servers"] = {SERVER: server}
    components = doc["components"]
    components["securitySchemes"] = {
        "natsUser": {
            "type": "userPassword",
            "description": "One NATS user per service, allowed only its own subjects "
            "(deploy/nats/authorization.conf, generated from contracts.streams).",
        }
    }
    for channel in doc["channels"].values():
        channel.pop("bindings", None)  # FastStream's are "custom"; NATS defines no channel binding
        channel["servers"] = [{"$ref": f"#/servers/{SERVER}"}]
    for message in components["messages"].values():
        message.pop("correlationId", None)  # FastStream's default: we send no correlation_id
        message["headers"] = EVENT_HEADERS
    # audit's consumer takes every event type.
    all_events = {"oneOf": [{"$ref": f"#/components/schemas/{c.__name__}"} for c in EVENT_TYPES]}
    components["schemas"]["audit-all-events.Message.Payload"] = {
        "title": "Any opendeur event",
        **all_events,
    }
    durable = {spec.durable: spec for spec in CONSUMERS}
    for op in doc["operations"].values():
        op["bindings"] = {"nats": {"bindingVersion": NATS_BINDING}}
        channel_id = op["channel"]["$ref"].rsplit("/", 1)[-1]
        if op["action"] == "receive" and channel_id in durable:
            # The instances of a service share the durable pull consumer: each event reaches one.
            op["bindings"]["nats"]["queue"] = channel_id
    _one_send_per_publisher(doc)
    _add_dead_letters(doc)
    return doc


def _one_send_per_publisher(doc: dict[str, Any]) -> None:
    """Each publishing service gets its own send operation '<service>.<subject>' on the
    subject's channel, so an event two services publish lists both."""
    operations = doc["operations"]
    for subject, who in PUBLISHERS.items():
        channel = CHANNEL[subject]
        op = operations.pop(channel)
        assert op["action"] == "send", channel
        doc["channels"][channel]["description"] += f"\n\nPublished by {' and '.join(who)}."
        for service in who:
            operations[f"{service}.{subject}"] = {
                **op,
                "summary": f"{service} publishes {subject}",
                "bindings": {"nats": {"bindingVersion": NATS_BINDING}},
            }


def _add_dead_letters(doc: dict[str, Any]) -> None:
    components = doc["components"]
    components["messages"]["DeadLetter"] = {
        "title": "DeadLetter",
        "summary": "A message a consumer could not handle, with why and where it came from.",
        "headers": DEAD_LETTER_HEADERS,
        "payload": {
            "description": "The original message's bytes, unchanged (they may not match any "
            "contract: that can be why it is here); empty when Opendeur-Body-Omitted is set.",
        },
    }
    for spec in CONSUMERS:
        key = f"deadletter.{spec.durable}"
        doc["channels"][key] = {
            "address": deadletter_subject(spec.durable),
            "title": key,
            "description": f"{spec.durable} gave up on these ({DEADLETTER_STREAM}; "
            "`opendeur deadletters list`, `opendeur deadletters replay SEQ`).",
            "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
            "servers": [{"$ref": f"#/servers/{SERVER}"}],
        }
        doc["operations"][key] = {
            "action": "send",
            "summary": f"{spec.service} dead-letters a message of {spec.subject}",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/DeadLetter"}],
            "bindings": {"nats": {"bindingVersion": NATS_BINDING}},
        }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
