from __future__ import annotations

import pytest

from dochooks.errors import ConfigError, InvalidUrl, UnsafeUrl
from dochooks.webhooks.url_safety import PLATFORM_ADDRESSES, AddressPolicy, parse_cidrs, resolve


def literal(host: str) -> list[str]:
    """Resolve like the system does, but only numeric spellings: no DNS in unit tests."""
    return resolve(host)


REFUSED = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://10.0.0.8/",
    "http://192.168.1.1/",
    "http://172.16.5.4/",
    "http://169.254.169.254/latest/meta-data",
    "http://100.100.100.200/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://[::1]/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://192.0.2.10/",
    "http://198.51.100.7/",
    "http://203.0.113.9/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://[2001:db8::1]/",
    "http://[ff02::1]/",
    "http://[::]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://127.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "HTTP://127.0.0.1/",
    "http://8.8.8.8@127.0.0.1/",
    "http://8.8.8.8:80@127.0.0.1/",
    "http://127.0.0.1#@8.8.8.8/",
    "http://127.0.0.1\\@8.8.8.8/",
    "http://[::1]:80/",
    # Cloud platforms' metadata and service addresses, in each spelling
    "http://168.63.129.16/machine?comp=goalstate",
    "http://2822734096/",
    "http://[::ffff:168.63.129.16]/",
    "http://[64:ff9b::a83f:8110]/",
    "http://[2002:a83f:8110::]/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/latest/meta-data",
    "http://192.0.0.192/",
    "http://169.254.0.23/",
]
STRICT = AddressPolicy()
DEVELOPMENT = AddressPolicy(allow_private=True)


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_special_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(InvalidUrl):  # unsafe, or (a host hidden behind a user part) invalid
        STRICT.check_url(url, resolver=literal)


MALFORMED = [
    "ftp://8.8.8.8/",
    "file:///etc/passwd",
    "gopher://8.8.8.8:70/",
    "javascript:alert(1)",
    "//8.8.8.8/",
    "http://user:pw@8.8.8.8/",
    "http://user@8.8.8.8/",
    "http:///nohost",
    "http://8.8.8.8:99999/",
    "http://8.8.8.8:0/",
]


@pytest.mark.parametrize("url", MALFORMED)
def test_malformed_urls_schemes_and_credentials_are_refused_even_in_development(url: str) -> None:
    with pytest.raises(InvalidUrl) as refused:
        DEVELOPMENT.check_url(url, resolver=literal)
    assert refused.type is InvalidUrl and refused.value.title == "Invalid webhook URL"  # invalid, not unsafe


def test_a_private_address_is_unsafe_and_the_refusal_names_both_ways_to_open_it() -> None:
    with pytest.raises(UnsafeUrl) as refused:
        STRICT.check_url("http://127.0.0.1:3000/hooks", resolver=literal)
    assert refused.value.title == "Unsafe webhook URL"
    assert "DOCHOOKS_ALLOW_PRIVATE_TARGETS=true" in str(refused.value)
    assert "DOCHOOKS_ALLOWED_TARGET_CIDRS" in str(refused.value)


def test_a_public_address_is_accepted() -> None:
    assert STRICT.check_url("https://8.8.8.8/hooks?x=1", resolver=literal) == ["8.8.8.8"]
    assert STRICT.check_url("http://[2001:4860:4860::8888]/", resolver=literal) == ["2001:4860:4860::8888"]


def test_the_development_switch_opens_loopback() -> None:
    assert DEVELOPMENT.check_url("http://127.0.0.1:9000/", resolver=literal) == ["127.0.0.1"]


def test_a_name_that_resolves_to_any_private_address_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match=r"10\.1\.2\.3"):
        STRICT.check_url("https://example.test/", resolver=lambda host: ["8.8.8.8", "10.1.2.3"])


def test_an_operator_opens_exactly_the_ranges_listed() -> None:
    policy = AddressPolicy(allowed=parse_cidrs("10.20.0.0/16, fd12:3456::/32", "X"))
    assert policy.check_url("http://10.20.1.1/", resolver=literal) == ["10.20.1.1"]
    assert policy.check_url("http://[fd12:3456::7]/", resolver=literal) == ["fd12:3456::7"]
    assert policy.check_url("http://[::ffff:10.20.0.9]/", resolver=literal) == ["::ffff:10.20.0.9"]
    for outside in ("http://10.21.0.1/", "http://127.0.0.1/", "http://169.254.169.254/", "http://[fd12:3457::1]/"):
        with pytest.raises(UnsafeUrl):
            policy.check_url(outside, resolver=literal)


def test_a_cidr_setting_with_a_typo_stops_the_start() -> None:
    with pytest.raises(ConfigError, match=r"DOCHOOKS_ALLOWED_TARGET_CIDRS: '10\.0\.0\.0/33'"):
        parse_cidrs("10.0.0.0/8,10.0.0.0/33", "DOCHOOKS_ALLOWED_TARGET_CIDRS")


def test_every_platform_address_is_refused_and_an_operator_can_open_one_on_purpose() -> None:
    for network in PLATFORM_ADDRESSES:
        address = str(network.network_address)
        with pytest.raises(UnsafeUrl):
            STRICT.vet(address, [address])
    opened = AddressPolicy(allowed=parse_cidrs("168.63.129.16/32", "X"))
    assert opened.check_url("http://168.63.129.16/", resolver=literal) == ["168.63.129.16"]
