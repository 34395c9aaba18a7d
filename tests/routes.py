"""The four apps' routes for tests that import them (in a process of their own): every
APIRoute (`routes`), and what FastAPI would run in a worker thread (`thread_hops`: a plain `def`
endpoint or dependency, a hop to anyio's pool and back per request for a lookup of
microseconds). Used by tests/unit/test_web_kit.py and tests/security/test_staff_endpoints.py."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def _on_loop(call: object) -> bool:
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    method = None if inspect.isroutine(call) or inspect.isclass(call) else call.__call__
    return method is not None and inspect.iscoroutinefunction(method)


def _name(call: object) -> str:
    return getattr(call, "__qualname__", None) or type(call).__qualname__


def routes(found: list) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI keeps those as routers) and mounts."""
    for r in found:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from routes(r.original_router.routes)
        elif hasattr(r, "routes"):
            yield from routes(r.routes)


def thread_hops(app: FastAPI) -> list[str]:
    """'path: endpoint|dependency name' of each one FastAPI would not await on the loop."""
    found = set()

    def walk(dependant: Dependant, path: str) -> None:
        for d in dependant.dependencies:
            if d.call is not None and not _on_loop(d.call):
                found.add(f"{path}: dependency {_name(d.call)}")
            walk(d, path)

    for r in routes(app.router.routes):
        if not _on_loop(r.endpoint):
            found.add(f"{r.path}: endpoint {_name(r.endpoint)}")
        walk(r.dependant, r.path)
    return sorted(found)
