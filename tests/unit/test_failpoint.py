"""The recovery tests' failpoint comes from Settings (OPENDEUR_FAILPOINT, OPENDEUR_DATA_DIR), like
every other knob: the process dies at the named point once per data directory, nowhere else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendeur import messaging
from opendeur.settings import get_settings

POINT = "after-commit:routing-question-received-v1"


class Died(Exception):
    pass


@pytest.fixture
def settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The environment a recovery test starts a service with; os._exit stands in as a raise."""

    def exit_(code: int) -> None:
        raise Died(code)

    monkeypatch.setenv("OPENDEUR_FAILPOINT", POINT)
    monkeypatch.setenv("OPENDEUR_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(messaging.os, "_exit", exit_)
    get_settings.cache_clear()
    messaging._failpoint.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    messaging._failpoint.cache_clear()


def test_the_failpoint_fires_once_per_data_directory(settings_from_env: Path) -> None:
    messaging.crash_point("after-commit:notify-question-routed-v1")  # another point: nothing
    with pytest.raises(Died):
        messaging.crash_point(POINT)
    assert (settings_from_env / "failpoint-after-commit-routing-question-received-v1").exists()
    messaging.crash_point(POINT)  # the restarted process goes on


def test_the_failpoint_is_what_settings_say(
    settings_from_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read through Settings, not beside it: settings that name no failpoint never crash."""
    monkeypatch.setattr(
        messaging, "get_settings", lambda: get_settings().model_copy(update={"failpoint": None})
    )
    messaging._failpoint.cache_clear()
    messaging.crash_point(POINT)
    assert not list(settings_from_env.iterdir())


def test_an_operator_command_finds_what_up_left_in_the_settings_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`opendeur users add` and the like read OPENDEUR_DATA_DIR through Settings and take what
    `up` left there; what the environment says comes first."""
    from opendeur import cli

    (tmp_path / "secrets.json").write_text(
        '{"OPENDEUR_ADMIN_TOKEN": "from-the-data-dir", "OPENDEUR_METRICS_TOKEN": "left"}'
    )
    monkeypatch.setenv("OPENDEUR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENDEUR_METRICS_TOKEN", "from-the-environment")
    monkeypatch.delenv("OPENDEUR_ADMIN_TOKEN", raising=False)  # restored afterwards
    settings = cli._settings()
    assert settings.data_dir == tmp_path
    assert settings.admin_token and settings.metrics_token
    assert settings.admin_token.get_secret_value() == "from-the-data-dir"
    assert settings.metrics_token.get_secret_value() == "from-the-environment"
