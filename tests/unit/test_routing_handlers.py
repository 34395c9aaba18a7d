"""Routing's handlers follow the template: one `on_<event>` per consumer contracts/streams.py
declares for routing, registered from their annotations, nothing typed twice."""

from __future__ import annotations

import inspect
import re

from contracts.streams import consumers_of
from services.routing import handlers, jobs


class Recorder:
    """Stands in for the Runtime: remembers what was subscribed and scheduled."""

    def __init__(self) -> None:
        self.subscribed: dict[str, object] = {}
        self.periods: list[float] = []

    def handles(self, event_type):
        def deco(fn):
            self.subscribed[event_type.subject] = fn
            return fn

        return deco

    def every(self, seconds):
        self.periods.append(seconds)
        return lambda fn: fn


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_routing_consumer_has_one_handler_named_for_its_event() -> None:
    declared = {c.subject for c in consumers_of("routing")}
    taken = {handlers.event_type_of(h).subject: h for h in handlers.HANDLERS}
    assert set(taken) == declared and len(taken) == len(handlers.HANDLERS)
    for handler in handlers.HANDLERS:
        assert handler.__name__ == "on_" + snake(handlers.event_type_of(handler).__name__)


def test_handlers_subscribe_and_jobs_start_the_timers() -> None:
    """handlers.register only subscribes; the escalation timers are jobs.register's."""
    rt = Recorder()
    handlers.register(rt)  # type: ignore[arg-type]
    assert rt.subscribed == {handlers.event_type_of(h).subject: h for h in handlers.HANDLERS}
    assert rt.periods == []
    jobs.register(rt)  # type: ignore[arg-type]
    assert rt.periods == [jobs.TIMERS_EVERY_S]


def test_handlers_module_holds_only_subscribers() -> None:
    """The template: handlers.py's public functions are its `on_<event>` subscribers and the
    registration; the decision lives in decisions.py, timers in jobs.py."""
    public = {
        name
        for name, obj in vars(handlers).items()
        if inspect.isfunction(obj)
        and obj.__module__ == handlers.__name__
        and not name.startswith("_")
    }
    assert public == {h.__name__ for h in handlers.HANDLERS} | {"register", "event_type_of"}
