from __future__ import annotations

import pytest

from dochooks.errors import UnsafeUrl
from dochooks.webhooks.url_safety import check_url, resolve


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
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_and_special_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_private=False, resolver=literal)


@pytest.mark.parametrize(
    "url",
    ["ftp://8.8.8.8/", "file:///etc/passwd", "http://user:pw@8.8.8.8/", "http:///nohost", "http://8.8.8.8:99999/"],
)
def test_malformed_urls_schemes_and_credentials_are_refused_even_in_development(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_private=True, resolver=literal)


def test_a_public_address_is_accepted() -> None:
    assert check_url("https://8.8.8.8/hooks?x=1", allow_private=False, resolver=literal) == ["8.8.8.8"]


def test_the_development_switch_opens_loopback() -> None:
    assert check_url("http://127.0.0.1:9000/", allow_private=True, resolver=literal) == ["127.0.0.1"]


def test_a_name_that_resolves_to_any_private_address_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match=r"10\.1\.2\.3"):
        check_url("https://example.test/", allow_private=False, resolver=lambda host: ["8.8.8.8", "10.1.2.3"])
