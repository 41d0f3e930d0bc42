"""Which webhook URLs dochooks will call: public http(s) addresses only, unless the
operator opens private ones for development (DOCHOOKS_ALLOW_PRIVATE_TARGETS=1)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from dochooks.errors import UnsafeUrl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def resolve(host: str) -> list[str]:
    """Every address the host name resolves to (numeric spellings such as 2130706433 included)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"the host {host!r} does not resolve", attribute="url") from exc
    return sorted({str(info[4][0]).split("%")[0] for info in infos})


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64 or 6to4), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def is_public(address: IPAddress) -> bool:
    inner = embedded_ipv4(address)
    if inner is not None:
        return is_public(inner)
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def check_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> list[str]:
    """Refuse a URL that is not http(s) to a public address; returns the vetted addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}", attribute="url") from exc
    if parts.scheme not in ("http", "https"):
        raise UnsafeUrl("the URL must start with http:// or https://", attribute="url")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("credentials in the URL are not allowed; use a custom header", attribute="url")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("the URL has no host", attribute="url")
    del port  # parsed only to refuse a malformed one
    addresses = resolver(host)
    if allow_private:
        return addresses
    for text in addresses:
        if not is_public(ipaddress.ip_address(text)):
            where = text if host.strip("[]") == text else f"{host} resolves to {text}, which"
            raise UnsafeUrl(
                f"{where} is not a public address; webhook URLs must be publicly reachable "
                "(set DOCHOOKS_ALLOW_PRIVATE_TARGETS=1 for local development)",
                attribute="url",
            )
    return addresses
