"""Routing's handlers follow the template (tests/unit/test_service_shape.py checks the shape of
every service): registered from their annotations, nothing typed twice; the decision is
decisions.py's and the escalation timers jobs.py's."""

from __future__ import annotations

import inspect

from services.routing import handlers, jobs
from tests.unit.test_service_shape import Recorder


def test_handlers_subscribe_and_jobs_start_the_timers() -> None:
    """handlers.register only subscribes; the escalation timers are jobs.register's."""
    rt = Recorder()
    handlers.register(rt)  # type: ignore[arg-type]
    assert rt.subscribed == {handlers.event_type_of(h).subject: h for h in handlers.HANDLERS}
    assert rt.periods == []
    jobs.register(rt)  # type: ignore[arg-type]
    assert rt.periods == [jobs.TIMERS_EVERY_S]


def test_handlers_module_holds_only_subscribers() -> None:
    """handlers.py's public functions are its `on_<event>` subscribers and the registration;
    the routing decision lives in decisions.py, the timers in jobs.py."""
    public = {
        name
        for name, obj in vars(handlers).items()
        if inspect.isfunction(obj)
        and obj.__module__ == handlers.__name__
        and not name.startswith("_")
    }
    assert public == {h.__name__ for h in handlers.HANDLERS} | {"register", "event_type_of"}
