"""Who the client is (lobby/client_address.py): the peer, or X-Forwarded-For via trusted proxies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from lobby import client_address
from lobby.client_address import ClientAddress, resolve

PROXIES = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("::1/128")]


def ip_of(peer: str | None, xff: str | None, trusted: Any = PROXIES) -> str:
    return resolve(peer, [xff] if xff is not None else [], trusted).ip


def test_without_trusted_proxies_the_peer_is_the_client_and_the_header_is_ignored() -> None:
    answer = resolve("203.0.113.7", ["198.51.100.1"], [])
    assert answer == ClientAddress(ip="203.0.113.7", peer="203.0.113.7", proxied=False,
                                   forwarded=True)
    assert ip_of("203.0.113.7", "10.0.0.1, 198.51.100.1") == "203.0.113.7", \
        "an untrusted peer's header is ignored even when it names trusted hops"


def test_behind_a_trusted_proxy_the_entry_it_appended_is_the_client() -> None:
    assert ip_of("10.0.0.5", "198.51.100.1") == "198.51.100.1"
    answer = resolve("10.0.0.5", ["198.51.100.1"], PROXIES)
    assert answer.proxied and answer.peer == "10.0.0.5" and answer.through_proxy


def test_the_left_most_entry_written_by_the_client_is_never_believed() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended its address.
    assert ip_of("10.0.0.5", "1.2.3.4, 198.51.100.1") == "198.51.100.1"


def test_trusted_hops_are_skipped_from_the_right() -> None:
    assert ip_of("10.0.0.5", "1.2.3.4, 198.51.100.1, 10.0.0.9, 10.0.0.7") == "198.51.100.1"
    assert ip_of("::1", "198.51.100.1, 10.0.0.2") == "198.51.100.1"


def test_a_chain_of_only_trusted_hops_ends_at_the_left_most_hop() -> None:
    assert ip_of("10.0.0.5", "10.0.0.3, 10.0.0.4") == "10.0.0.3"
    assert ip_of("10.0.0.5", None) == "10.0.0.5", "no header: the proxy itself"
    assert ip_of("10.0.0.5", "") == "10.0.0.5"


@pytest.mark.parametrize("bad", ["garbage", "1.2.3.4:80", "[2001:db8::1]", "", "unknown",
                                 "1.2.3", "_hidden", "999.1.1.1"])
def test_a_malformed_entry_stops_the_walk_at_the_last_trusted_hop(bad: str) -> None:
    assert ip_of("10.0.0.5", f"1.2.3.4, {bad}") == "10.0.0.5"
    assert ip_of("10.0.0.5", f"1.2.3.4, {bad}, 10.0.0.8") == "10.0.0.8"


def test_several_headers_are_one_list_in_order() -> None:
    answer = resolve("10.0.0.5", ["1.2.3.4", "198.51.100.1, 10.0.0.6"], PROXIES)
    assert answer.ip == "198.51.100.1"


def test_ipv4_mapped_addresses_are_ipv4() -> None:
    assert ip_of("::ffff:10.0.0.5", "::ffff:198.51.100.1") == "198.51.100.1"


def test_an_unknown_peer_is_kept_and_never_trusted() -> None:
    assert resolve(None, ["1.2.3.4"], PROXIES).ip == "unknown"
    assert resolve("unix-socket", ["1.2.3.4"], PROXIES).ip == "unix-socket"


def test_a_long_chain_of_trusted_hops_stops_after_max_hops() -> None:
    chain = ", ".join(["198.51.100.1"] + ["10.0.0.1"] * (client_address.MAX_HOPS + 5))
    assert ip_of("10.0.0.5", chain) == "10.0.0.1"


addresses = st.one_of(
    st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str),
    st.sampled_from(["10.0.0.1", "10.0.0.200", "::1", "garbage", "", "1.2.3.4:5", "unknown"]),
)


@given(
    written=st.lists(addresses, max_size=8),
    client=st.ip_addresses(v=4).filter(lambda a: a not in PROXIES[0]).map(str),
    proxies=st.lists(st.sampled_from(["10.0.0.1", "10.0.0.77", "::1"]), min_size=1, max_size=4),
)
def test_a_client_cannot_choose_its_identity_by_prepending_entries(
    written: list[str], client: str, proxies: list[str]
) -> None:
    """client → proxies[0] → … → proxies[-1] → server; the client also wrote `written`.

    Each proxy appends the address it was connected from, so the server sees
    the last proxy as its peer and `written + [client, proxies[:-1]...]`.
    Whatever the client wrote, the answer is its real address.
    """
    header = ", ".join([*written, client, *proxies[:-1]])
    assert ip_of(proxies[-1], header) == client


@given(written=st.lists(addresses, max_size=8), client=st.ip_addresses(v=4).map(str))
def test_an_untrusted_peer_is_always_the_client(written: list[str], client: str) -> None:
    if ipaddress.ip_address(client) in PROXIES[0]:
        return
    assert ip_of(client, ", ".join(written)) == client


# Django requests and ASGI scopes ---------------------------------------------------


def test_for_request_reads_remote_addr_and_the_header(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"trusted_proxies": "127.0.0.1/32"})
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 127.0.0.2")
    assert client_address.for_request(request).ip == "127.0.0.2"
    direct = factory.get("/", REMOTE_ADDR="127.0.0.3", HTTP_X_FORWARDED_FOR="6.6.6.6")
    answer = client_address.for_request(direct)
    assert answer.ip == "127.0.0.3" and not answer.proxied and answer.through_proxy
    assert not client_address.for_request(factory.get("/", REMOTE_ADDR="127.0.0.3")).forwarded
    real_ip = factory.get("/", REMOTE_ADDR="127.0.0.3", HTTP_X_REAL_IP="6.6.6.6")
    assert client_address.for_request(real_ip).through_proxy


def test_for_scope_reads_the_asgi_client_and_headers(settings: Any) -> None:
    settings.ARENA = settings.ARENA.model_copy(update={"trusted_proxies": "127.0.0.1/32"})
    scope = {
        "type": "websocket", "client": ["127.0.0.1", 5555],
        "headers": [(b"host", b"x"), (b"X-Forwarded-For", b"6.6.6.6"),
                    (b"x-forwarded-for", b"127.0.0.9")],
    }
    assert client_address.for_scope(scope).ip == "127.0.0.9"
    assert client_address.for_scope({"type": "http", "client": None, "headers": []}).ip == "unknown"
