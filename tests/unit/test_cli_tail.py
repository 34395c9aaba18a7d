"""`opendeur audit tail --since` refuses a value that is neither a time nor a duration, in the
terminal, before it connects anywhere."""

from opendeur.cli import main


def test_a_bad_since_is_refused_with_a_readable_message(capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDEUR_ADMIN_TOKEN", "t")
    assert main(["audit", "tail", "--since", "yesterday-ish"]) == 2
    err = capsys.readouterr().err
    assert "ISO-8601" in err and "2h" in err
