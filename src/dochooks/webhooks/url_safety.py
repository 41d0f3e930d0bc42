"""Which addresses webhooks may reach: public http(s) addresses only, unless the operator
opens some private ranges on purpose (DOCHOOKS_ALLOWED_TARGET_CIDRS) or all of them for
development (DOCHOOKS_ALLOW_PRIVATE_TARGETS=1). The same policy vets a URL when it is
configured and every address a delivery connects to."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from dochooks.errors import ConfigError, InvalidUrl, UnsafeUrl
from dochooks.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], list[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IANA's special-purpose ranges, refused whatever Python's `is_global` says: its answer
# changes between Python versions (3.11 calls 192.0.0.8 global).
_SPECIAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20",
        "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip


# Cloud platforms' metadata and service addresses, refused like the ranges above (an
# operator may still open one with DOCHOOKS_ALLOWED_TARGET_CIDRS). Most already sit in a
# special-purpose range and are listed so the list is whole; Azure's is a public address.
PLATFORM_ADDRESSES = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.169.254/32",  # instance metadata: AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
        "169.254.170.2/32",  # AWS ECS task metadata and credentials
        "fd00:ec2::254/128",  # AWS instance metadata over IPv6
        "168.63.129.16/32",  # Azure WireServer: platform DNS, health probes, VM agent
        "100.100.100.200/32",  # Alibaba Cloud instance metadata
        "192.0.0.192/32",  # Oracle Cloud Classic instance metadata
        "169.254.0.23/32",  # Tencent Cloud instance metadata
    )
)


def resolve(host: str) -> list[str]:
    """Every address the host name resolves to (numeric spellings such as 2130706433 included)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise InvalidUrl(f"the host {host!r} does not resolve", attribute="url") from exc
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
    if any(address in net for net in _SPECIAL + PLATFORM_ADDRESSES):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def parse_cidrs(text: str | None, setting: str) -> tuple[IPNetwork, ...]:
    """A comma-separated list of CIDRs from a setting; a typo stops the service at start."""
    networks = []
    for item in (text or "").split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip()))
            except ValueError as exc:
                raise ConfigError(f"{setting}: {item.strip()!r} is not a CIDR ({exc})") from exc
    return tuple(networks)


class AddressPolicy:
    """The addresses deliveries may connect to."""

    def __init__(self, *, allow_private: bool = False, allowed: Iterable[IPNetwork] = ()) -> None:
        self.allow_private = allow_private
        self.allowed = tuple(allowed)

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        allowed = parse_cidrs(settings.allowed_target_cidrs, "DOCHOOKS_ALLOWED_TARGET_CIDRS")
        return cls(allow_private=settings.allow_private_targets, allowed=allowed)

    def permits(self, address: IPAddress) -> bool:
        if self.allow_private:
            return True
        inner = embedded_ipv4(address)
        if any(address in net or (inner is not None and inner in net) for net in self.allowed):
            return True
        return is_public(address)

    def vet(self, host: str, addresses: Iterable[str]) -> list[str]:
        """The addresses, if every one is permitted; else UnsafeUrl naming the first that is not
        and the settings that would permit it."""
        found = list(addresses)
        for text in found:
            if not self.permits(ipaddress.ip_address(text)):
                where = text if host.strip("[]") == text else f"{host} resolves to {text}, which"
                raise UnsafeUrl(
                    f"{where} is not a public address; webhook URLs must be publicly reachable. "
                    "For local development, start dochooks with DOCHOOKS_ALLOW_PRIVATE_TARGETS=true; "
                    "to open chosen private ranges, set DOCHOOKS_ALLOWED_TARGET_CIDRS",
                    attribute="url",
                )
        return found

    def check_url(self, url: str, *, resolver: Resolver = resolve) -> list[str]:
        """Refuse a URL that is not http(s) to a permitted address; returns the vetted addresses."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise InvalidUrl(f"not a valid URL: {exc}", attribute="url") from exc
        if port == 0:
            raise InvalidUrl("port 0 cannot be connected to", attribute="url")
        if parts.scheme not in ("http", "https"):
            raise InvalidUrl("the URL must start with http:// or https://", attribute="url")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise InvalidUrl("credentials in the URL are not allowed; use a custom header", attribute="url")
        host = parts.hostname
        if not host:
            raise InvalidUrl("the URL has no host", attribute="url")
        return self.vet(host, resolver(host))
