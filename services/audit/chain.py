"""Tamper evidence for the audit log: canonical encoding, hash links and chain verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainRow:
    seq: int
    record: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str  # "hash_mismatch" | "link_mismatch" | "gap"


def _plain(value: Any) -> Any:
    # bool is an int subclass, so it must be tested before the int/str branch is reached.
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not allowed in audit records; use int or str")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime in audit record; attach a timezone")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            # json.dumps would silently turn 1 into "1" and make distinct records collide.
            if not isinstance(key, str):
                raise TypeError(f"audit record keys must be str, got {type(key).__name__}")
            out[key] = _plain(item)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise TypeError(f"unsupported type in audit record: {type(value).__name__}")


def canonical(record: Mapping[str, Any]) -> bytes:
    """Encode a record deterministically; raise TypeError/ValueError for values we cannot."""
    text = json.dumps(_plain(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def link_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    """Hash of a record chained to the hash of the row before it."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(record)).hexdigest()


def verify(rows: Iterable[ChainRow], *, after: ChainRow | None = None) -> Broken | None:
    """Check rows in seq order one at a time; return the first broken row, or None if intact.

    `after` is the last row of an already verified part, so a long chain can be checked in parts.
    """
    prev_seq: int | None = after.seq if after else None
    prev_hash = after.hash if after else GENESIS
    for row in rows:
        if prev_seq is not None and row.seq != prev_seq + 1:
            return Broken(row.seq, "gap")
        if row.prev_hash != prev_hash:
            return Broken(row.seq, "link_mismatch")
        try:
            ok = link_hash(row.prev_hash, row.record) == row.hash
        except (TypeError, ValueError):
            # A record that cannot be encoded cannot be the one that was hashed.
            ok = False
        if not ok:
            return Broken(row.seq, "hash_mismatch")
        prev_seq, prev_hash = row.seq, row.hash
    return None
