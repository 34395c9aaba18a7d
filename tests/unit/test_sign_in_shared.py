"""The phone console and the staff sign-in are two doors to one session: one codec and one set
of login limits, so a name gets its tries once, not once per door."""

from types import SimpleNamespace

from opendeur.settings import Settings
from services.intake.web.phone import sign_in


def test_both_doors_share_one_codec_and_one_set_of_login_limits() -> None:
    rt = SimpleNamespace(settings=Settings(secret_key="unit-test-secret-0123456789abcdef"))
    door_one, door_two = sign_in(rt), sign_in(rt)  # type: ignore[arg-type]
    assert door_one is door_two
    tries = [door_one.by_name.take("anna@127.0.0.1") for _ in range(10)]
    assert any(tries), "the per-name limit never refused"
    assert door_two.by_name.take("anna@127.0.0.1"), "the other door started a fresh count"
