"""Every service has the template's shape (opendeur/web.py): handlers.py holds module-level
`on_<event>(event, db)` subscribers (or `(events, db)` with `events: list[<Event>]`, for a
hot subject whose batch one statement writes, or `(events, conn, claim)` when that statement
claims the batch itself), one per consumer contracts/streams.py declares for the
service, named for the event they take; its `register` subscribes them and starts nothing;
timers and sweeps are jobs.py's. Audit's one subscriber (every event, raw batches into its hash
chain) is a batch writer by design and is not checked here."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import get_args, get_origin, get_type_hints

import pytest

from contracts.events import Event
from contracts.streams import consumers_of

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """Stands in for the Runtime: remembers what was subscribed and scheduled."""

    def __init__(self) -> None:
        self.subscribed: dict[str, object] = {}
        self.periods: list[float] = []
        self.background: list[object] = []

    def handles(self, event_type: type[Event], **_: object):
        def deco(fn):
            self.subscribed[event_type.subject] = fn
            return fn

        return deco

    def handles_batch(self, event_type: type[Event], **_: object):
        def deco(fn):
            assert batch_of(fn) is event_type, fn.__name__
            self.subscribed[event_type.subject] = fn
            return fn

        return deco

    def handles_claiming(self, event_type: type[Event], **_: object):
        def deco(fn):
            assert batch_of(fn) is event_type, fn.__name__
            assert list(inspect.signature(fn).parameters)[1:] == ["conn", "claim"], fn.__name__
            self.subscribed[event_type.subject] = fn
            return fn

        return deco

    def every(self, seconds: float):
        self.periods.append(seconds)
        return lambda fn: fn


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def batch_of(fn: object) -> type[Event] | None:
    """The event type of a batch handler's `events: list[<Event>]`, else None."""
    first = next(iter(inspect.signature(fn).parameters))
    hint = get_type_hints(fn)[first]
    return get_args(hint)[0] if get_origin(hint) is list else None


def subscribers(service: str) -> dict[str, object]:
    """The module's on_* functions by the subject of the event their first parameter takes."""
    module = importlib.import_module(f"services.{service}.handlers")
    found = {}
    for name, fn in vars(module).items():
        if name.startswith("on_") and inspect.iscoroutinefunction(fn):
            first = next(iter(inspect.signature(fn).parameters))
            event_type = batch_of(fn) or get_type_hints(fn)[first]
            assert name == "on_" + snake(event_type.__name__), name
            found[event_type.subject] = fn
    return found


@pytest.mark.parametrize("service", ["intake", "routing", "notify"])
def test_handlers_are_on_event_subscribers_and_register_starts_nothing(service: str) -> None:
    handlers = importlib.import_module(f"services.{service}.handlers")
    declared = {c.subject for c in consumers_of(service)}
    assert set(subscribers(service)) == declared
    rt = Recorder()
    params = inspect.signature(handlers.register).parameters
    handlers.register(rt, **({"wake": lambda: None} if "wake" in params else {}))
    assert rt.subscribed == subscribers(service)
    assert rt.periods == [] and rt.background == []  # timers are jobs.py's


@pytest.mark.parametrize("service", ["intake", "routing", "notify", "audit"])
def test_app_starts_its_jobs_itself(service: str) -> None:
    """app.py wires both: the subscribers (handlers.register) and the timers (jobs.register)."""
    source = (ROOT / "services" / service / "app.py").read_text()
    assert "handlers.register(rt" in source and "jobs.register(rt" in source
