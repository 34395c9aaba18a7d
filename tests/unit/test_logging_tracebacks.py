"""Tracebacks in the logs keep the exception types and frames but never a message: a message can
carry personal data (a unique violation's DETAIL line names the duplicate value)."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest
import structlog

from opendeur import logging as olog

CANARY = "kanarie-anna.devries-c1e2"


class AccountTaken(Exception):
    pass


def insert_account() -> None:
    raise LookupError(f"DETAIL:  Key (name)=({CANARY}) already exists.")


def add_account() -> None:
    try:
        insert_account()
    except LookupError as exc:
        raise AccountTaken(f"the name {CANARY} is taken") from exc


def handle_request() -> None:
    try:
        add_account()
    except AccountTaken:
        raise RuntimeError(f"while adding {CANARY}") from None


@pytest.fixture
def configure(capsys: pytest.CaptureFixture[str]) -> Iterator[object]:
    """opendeur.logging.configure, writing to capsys's stderr; everything it set is put back."""
    saved = structlog.get_config()
    context = structlog.contextvars.get_contextvars()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    hooks = sys.excepthook, threading.excepthook
    yield olog.configure
    sys.excepthook, threading.excepthook = hooks
    for name, was in levels.items():
        logging.getLogger(name).setLevel(was)
    root.handlers[:], root.level = handlers, level
    structlog.configure(**saved)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)


def assert_withheld(out: str, *frames: str) -> None:
    assert out.strip(), "nothing was logged"
    assert CANARY not in out
    assert "AccountTaken: [message withheld]" in out
    assert "LookupError: [message withheld]" in out
    assert "direct cause of the following exception" in out
    for frame in frames:
        assert f"in {frame}" in out, frame


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_structlog_exception_keeps_types_and_frames_not_messages(
    configure, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    configure("test", fmt=fmt)
    log = structlog.get_logger()
    try:
        add_account()
    except AccountTaken:
        log.exception("account_failed")
    out = capsys.readouterr().err
    assert_withheld(out, "insert_account", "add_account")
    if fmt == "json":
        (line,) = out.splitlines()
        assert "insert_account" in json.loads(line)["exception"]


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_stdlib_record_with_exc_info_keeps_types_and_frames_not_messages(
    configure, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """As uvicorn logs "Exception in ASGI application" after Starlette re-raised the error."""
    configure("test", fmt=fmt)
    try:
        add_account()
    except AccountTaken:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
    out = capsys.readouterr().err
    assert_withheld(out, "insert_account", "add_account")
    assert "Exception in ASGI application" in out


def test_a_suppressed_context_stays_out_and_the_last_type_is_named(
    configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("test", fmt="json")
    try:
        handle_request()
    except RuntimeError as exc:
        structlog.get_logger().error("request_failed", exc_info=exc)
    rendered = json.loads(capsys.readouterr().err)["exception"]
    assert CANARY not in rendered and "AccountTaken" not in rendered
    assert rendered.endswith("RuntimeError: [message withheld]")
    assert "in handle_request" in rendered


def test_an_uncaught_exception_is_logged_the_same_way(
    configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("test", fmt="json")
    try:
        add_account()
    except AccountTaken:
        sys.excepthook(*sys.exc_info())
    out = capsys.readouterr().err
    assert_withheld(out, "insert_account", "add_account")
    assert json.loads(out)["level"] == "critical"
