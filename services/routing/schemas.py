"""Routing's staff API response bodies as documented in its OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel


class TriageItem(BaseModel):
    """A question no group could take, waiting for the network team."""

    question_id: UUID
    reference: str
    topic: str | None
    municipality: str | None
    priority: bool
    reason: str | None
    received_at: datetime
    respond_before: datetime
