"""Refusals a person can read, as a domain type: no HTTP here (the web kit maps them at the edge).

A domain or store function that will not do what was asked raises `Refused`::

    raise Refused("group_not_active", "This group is paused or left.", field="group_id")
    raise Refused("not_in_queue", "This question is not in the queue.", kind="conflict")

`code` is a short lowercase code for machines, `message` a sentence a person can read (never
personal data: no phone, story, name or e-mail), `field` the input it concerns, if one, and
`kind` what sort of refusal it is. The runtime's one exception handler (opendeur.runtime,
`install_basics`) answers `{error: code, message, field}` with the status of its kind:

    invalid 422 · conflict 409 · gone 410 · not_found 404 · forbidden 403 · unauthorized 401

and a page that re-renders its form catches `Refused` and shows `message` beside `field`
(opendeur.web.refused_page).
"""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal["invalid", "conflict", "gone", "not_found", "forbidden", "unauthorized"]
KINDS: frozenset[str] = frozenset(get_args(Kind))


class Refused(Exception):
    """A refusal a person can read: a code, a message, the field concerned and its kind."""

    def __init__(
        self, code: str, message: str, field: str | None = None, kind: Kind = "invalid"
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of refusal {kind!r}")
        super().__init__(code)
        self.code, self.message, self.field, self.kind = code, message, field, kind

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, kind={self.kind!r}, field={self.field!r})"
