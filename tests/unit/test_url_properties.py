"""Property tests of URL vetting: whatever the URL, vetting answers InvalidUrl (UnsafeUrl among them) or a list
of addresses, and no spelling of a private address is ever accepted."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from dochooks.delivery.direct_sender import DirectSender
from dochooks.delivery.egress import AddressRefused, Egress
from dochooks.delivery.proxy_sender import ProxySender
from dochooks.errors import InvalidUrl
from dochooks.webhooks.url_safety import AddressPolicy, resolve

STRICT = AddressPolicy()

# The oracle, written out from the IANA special-purpose registries rather than derived from
# the code under test, and the cloud platforms' service addresses: nothing in these may ever be called.
BLOCKED_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "168.63.129.16/32",  # not special-purpose, but Azure's platform address (WireServer)
    )
]
BLOCKED_V6 = [
    ipaddress.IPv6Network(n)
    for n in ("::/128", "::1/128", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8")
]


def blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in net for net in BLOCKED_V4)
    inner = (
        address.ipv4_mapped
        or address.sixtofour
        or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if address in ipaddress.ip_network("64:ff9b::/96")
            else None
        )
    )
    return any(address in net for net in BLOCKED_V6) or (inner is not None and blocked(inner))


def numeric_only(host: str) -> list[str]:
    """The system's own parsing of numeric hosts (legacy IPv4 forms included), no DNS."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise InvalidUrl(f"{host!r} is not numeric", attribute="url") from exc
    return sorted({str(info[4][0]).split("%")[0] for info in infos})


def spellings(address: ipaddress.IPv4Address) -> list[str]:
    """Ways to write one IPv4 address in a URL's host."""
    n = int(address)
    octets = address.packed
    return [
        str(address),
        str(n),
        hex(n),
        ".".join(f"0{o:o}" for o in octets),
        f"{octets[0]}.{n & 0xFFFFFF}",
        f"[::ffff:{address}]",
        f"[64:ff9b::{address}]",
        f"[2002:{octets[0]:02x}{octets[1]:02x}:{octets[2]:02x}{octets[3]:02x}::1]",
    ]


blocked_v4 = st.sampled_from(BLOCKED_V4).flatmap(
    lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)
)


@settings(max_examples=500)
@given(
    address=blocked_v4, scheme=st.sampled_from(["http", "https", "HTTP"]), port=st.sampled_from(["", ":80", ":8443"])
)
def test_no_spelling_of_a_private_ipv4_address_is_accepted(
    address: ipaddress.IPv4Address, scheme: str, port: str
) -> None:
    for host in spellings(address):
        url = f"{scheme}://{host}{port}/hook"
        try:
            found = STRICT.check_url(url, resolver=numeric_only)
        except InvalidUrl:
            continue
        raise AssertionError(f"{url} was accepted as {found}")


@settings(max_examples=1000)
@given(address=st.ip_addresses())
def test_an_accepted_address_is_never_a_private_one(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    host = f"[{address}]" if address.version == 6 else str(address)
    try:
        found = STRICT.check_url(f"https://{host}/", resolver=numeric_only)
    except InvalidUrl:
        return
    assert not any(blocked(ipaddress.ip_address(a)) for a in found), found


@settings(max_examples=1000)
@given(url=st.one_of(st.text(max_size=200), st.from_regex(r"\Ahttps?://[^/]{0,60}/?.{0,40}\Z")))
def test_any_text_is_either_refused_clearly_or_vetted(url: str) -> None:
    try:
        found = STRICT.check_url(url, resolver=numeric_only)
    except InvalidUrl as exc:
        assert exc.detail and exc.pointer == "/data/attributes/url"
        return
    assert found and not any(blocked(ipaddress.ip_address(a)) for a in found)


@settings(max_examples=300)
@given(userinfo=st.text(min_size=1, max_size=30), address=blocked_v4)
def test_userinfo_never_hides_the_host(userinfo: str, address: ipaddress.IPv4Address) -> None:
    # The host urlsplit sees is public in the first two: only the refusal of credentials stops them.
    for url in (
        f"http://{address}@8.8.8.8/",
        f"http://{userinfo}@8.8.8.8/",
        f"http://8.8.8.8@{address}/",
        f"http://{address}#@8.8.8.8/",
    ):
        try:
            STRICT.check_url(url, resolver=numeric_only)
        except InvalidUrl:
            continue
        raise AssertionError(f"{url} was accepted")


def _route(url: str) -> None:
    """The proxy sender's own vetting of a delivery's URL, as it runs before every request."""
    sender = ProxySender(timeout=5, max_connections=1, max_per_host=1, egress=Egress(STRICT), lookup=numeric_only)
    asyncio.run(sender._route(URL(url), {}))


def _pin(url: str) -> None:
    """The direct sender's own vetting of a delivery's URL: its host as reqwest reads it, pinned."""
    sender = DirectSender(timeout=5, max_per_host=1, egress=Egress(STRICT), lookup=numeric_only)
    asyncio.run(sender._pinned(sender._host_of(url)))


@settings(max_examples=600)  # about 300 for each sender
@given(address=blocked_v4, vetting=st.sampled_from([_route, _pin]))
def test_no_spelling_of_a_private_ipv4_address_is_sent_to(
    address: ipaddress.IPv4Address, vetting: Callable[[str], None]
) -> None:
    """By either sender: the proxy's (yarl reads the URL) and the direct one's (reqwest does)."""
    for host in spellings(address):
        url = f"http://{host}/hook"
        try:
            vetting(url)
        except (AddressRefused, ValueError):  # refused by the vetting, or not a URL the sender will send
            continue
        raise AssertionError(f"a delivery to {url} would be sent")


def test_the_numeric_resolver_parses_like_the_service_resolver() -> None:
    for host in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "::ffff:127.0.0.1"):
        assert numeric_only(host) == resolve(host)
