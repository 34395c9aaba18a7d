"""Notify's own request dependency beside the kit's (opendeur/web.py): its key envelope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from opendeur import keys, web


async def envelope(request: Request) -> keys.Envelope:
    """Notify's envelope (its master keys), made once per app."""
    state = request.app.state
    if getattr(state, "envelope", None) is None:
        state.envelope = keys.Envelope.for_service(web.runtime(request).settings, "notify")
    return state.envelope


Envelope = Annotated[keys.Envelope, Depends(envelope)]
