"""The embedded mailbox keeps mails that hold callback links: readable by its own user only."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

from opendeur.mailbox import _Store


async def test_mails_and_their_directory_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "mail"
    directory.mkdir(mode=0o755)  # left by an older version
    store = _Store(directory)
    envelope = SimpleNamespace(
        original_content=b"Subject: x\r\n\r\nhttp://127.0.0.1/c/t", content=b""
    )
    assert await store.handle_DATA(None, None, envelope) == "250 OK"
    (mail,) = directory.glob("*.eml")
    assert mail.read_bytes().endswith(b"/c/t")
    assert stat.S_IMODE(mail.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
