"""Notify's request dependencies (shaped like opendeur/web.py's kit: Runtime, Db, Envelope)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from opendeur import keys
from opendeur import runtime as runtime_
from opendeur.runtime import staff_route_class


def runtime(request: Request) -> runtime_.Runtime:
    return request.app.state.runtime


def envelope(request: Request) -> keys.Envelope:
    state = request.app.state
    if getattr(state, "envelope", None) is None:
        state.envelope = keys.Envelope.for_service(state.runtime.settings, "notify")
    return state.envelope


async def db(request: Request) -> AsyncIterator[AsyncSession]:
    """A session; a route that writes commits it itself (before it wakes anyone)."""
    async with runtime(request).sessions() as session:
        yield session


Runtime = Annotated[runtime_.Runtime, Depends(runtime)]
Envelope = Annotated[keys.Envelope, Depends(envelope)]
Db = Annotated[AsyncSession, Depends(db)]
# Staff routes check the credential before any parameter is parsed (opendeur/runtime.py).
route_class = staff_route_class(lambda request: runtime(request).check_first(request))
