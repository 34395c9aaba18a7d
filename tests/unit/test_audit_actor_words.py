"""Who the console says did it, for the actors that are not a signed-in staff member: the new
address's owner confirming an address change (asked for by a coordinator), and a dead-letter
replay from the server's command line."""

from __future__ import annotations

from contracts.events import NEW_ADDRESS, StaffActed
from services.audit.web import trail

STAFF = "st-0123456789abcdef"


def confirmed(requested_by: str) -> dict:
    event = StaffActed(
        source="notify",
        staff_id=NEW_ADDRESS,
        action="address_confirmed",
        contact_id="c-0123456789abcdef0123",
        requested_by=requested_by,
    )
    return event.model_dump(mode="json")


def test_a_confirmed_address_is_by_the_new_address_asked_for_by_the_coordinator() -> None:
    record = confirmed(STAFF)
    assert trail.who(record, "nl") == ("bevestigd door het nieuwe adres", False)
    assert trail.who(record, "en") == ("confirmed by the new address", False)
    assert f"aangevraagd door medewerker {STAFF}" in trail.details(record, "nl")
    assert f"asked for by staff member {STAFF}" in trail.details(record, "en")


def test_a_machine_clients_request_is_named_as_its_token() -> None:
    record = confirmed("token.crm")
    assert "aangevraagd door koppeling crm (machinetoken)" in trail.details(record, "nl")


def test_a_replay_from_the_command_line_names_the_server_account_pseudonym() -> None:
    record = {"type": "staff.acted.v1", "staff_id": "cli.c-0123456789abcdef0123"}
    who, staff = trail.who(record, "nl")
    assert staff and "c-0123456789abcdef0123" in who and "opdracht op de server" in who
    assert "medewerker" not in who
