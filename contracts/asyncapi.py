"""Generates the AsyncAPI document from the contracts (FastStream renders it): `python -m contracts.asyncapi`."""

from __future__ import annotations

import json
from typing import Any

from faststream.nats import JStream, NatsBroker, PullSub
from faststream.specification import AsyncAPI

from contracts.events import BY_SUBJECT, EVENT_TYPES, Event
from contracts.streams import CONSUMERS, EVENTS_STREAM

OWNER = {cls.subject: cls.model_fields["source"].default for cls in EVENT_TYPES}


def build() -> dict[str, Any]:
    broker = NatsBroker("nats://nats.invalid:4222", description="opendeur events on NATS JetStream")
    stream = JStream(EVENTS_STREAM, declare=False)
    for cls in EVENT_TYPES:
        broker.publisher(
            cls.subject,
            stream=stream,
            schema=cls,
            title=f"{OWNER[cls.subject]}:{cls.subject}",
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
        "Ids, codes, times and flags only: never a story, phone number, name or address.",
    )
    return json.loads(spec_doc.to_specification().to_json())


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
