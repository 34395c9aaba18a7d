"""Links people follow name the address they can reach, not the one a service listens on."""

from opendeur.settings import Settings


def test_links_use_each_services_public_address_when_it_listens_on_all_interfaces() -> None:
    s = Settings(
        host="0.0.0.0",
        public_base_url="https://vraag.example/",
        routing_public_url="https://groepen.example",
        audit_public_url="https://audit.example/",
        notify_public_url="https://contact.example",
    )
    assert s.base_url("intake") == "https://vraag.example"
    assert s.base_url("routing") == "https://groepen.example"
    assert s.base_url("audit") == "https://audit.example"
    assert s.base_url("notify") == "https://contact.example"


def test_without_a_public_address_the_local_one_is_used() -> None:
    s = Settings(host="127.0.0.1", routing_port=9181)
    assert s.base_url("routing") == "http://127.0.0.1:9181"
    assert s.base_url("notify") == f"http://127.0.0.1:{s.notify_port}"
