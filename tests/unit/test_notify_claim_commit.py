"""Notify's sender sends only what its claim committed: when the COMMIT of a claim fails (the
connection lost just then), the rows may still be queued, and the next claim would send them a
second time. Before, the jobs read in that transaction were sent all the same. Now they are
given back (`store.unclaim`, on a real database in tests/integration/test_notify_unclaim.py:
queued again only if that claim did commit)."""

from __future__ import annotations

import asyncio
import contextlib
import types

import pytest

from services.notify import delivery, store


def sessions_whose_first_commit_fails() -> type:
    commits = []

    class Session:
        """The claim's statement goes through, its COMMIT raises; later transactions commit."""

        async def __aenter__(self) -> Session:
            return self

        async def __aexit__(self, kind: object, *_rest: object) -> None:
            commits.append(kind)
            if kind is None and len(commits) == 1:
                raise ConnectionResetError("lost at COMMIT")

        def begin(self) -> Session:
            return self

    return Session


async def test_the_jobs_of_a_claim_whose_commit_failed_are_given_back_not_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sender = delivery.Dispatcher.__new__(delivery.Dispatcher)
    sender.config = types.SimpleNamespace(concurrency=4, poll_seconds=0.05)
    sender.wake, sender.tasks, sender._email, sender.more_due = asyncio.Event(), set(), None, False
    sender.rt = types.SimpleNamespace(sessions=sessions_whose_first_commit_fails())
    claims: list[int] = []

    async def claim_due(_session: object, room: int) -> list[str]:
        claims.append(room)
        return ["job-1"] if len(claims) == 1 else []

    given_back: list[list[str]] = []

    async def unclaim(_session: object, jobs: list[str]) -> int:
        given_back.append(jobs)
        return len(jobs)

    monkeypatch.setattr(store, "claim_due", claim_due)
    monkeypatch.setattr(store, "unclaim", unclaim)
    sent: list[str] = []

    async def attempt(job: str) -> None:
        sent.append(job)

    sender.attempt = attempt  # type: ignore[method-assign]
    task = asyncio.create_task(sender.run())
    while len(claims) < 2:  # it claimed, failed at COMMIT, and tried again after its poll
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert sent == []
    assert given_back == [["job-1"]]
