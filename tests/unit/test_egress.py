from __future__ import annotations

import asyncio

import pytest

from dochooks.delivery import egress
from dochooks.delivery.egress import Egress, TargetRefused, VettingResolver
from dochooks.errors import ConfigError
from dochooks.settings import Settings
from dochooks.webhooks.url_safety import TargetPolicy


def test_a_name_that_rebinds_to_a_private_address_is_refused_once_its_answer_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"hooks.example": ["93.184.216.34"]}
    lookups: list[str] = []

    def lookup(host: str) -> list[str]:
        lookups.append(host)
        return answers[host]

    now = [1000.0]
    monkeypatch.setattr(egress.time, "monotonic", lambda: now[0])
    resolver = VettingResolver(TargetPolicy(), lookup=lookup)

    async def scenario() -> None:
        first = await asyncio.gather(*(resolver.resolve("hooks.example", 443) for _ in range(20)))
        assert {r[0]["host"] for r in first} == {"93.184.216.34"} and lookups == ["hooks.example"]
        answers["hooks.example"] = ["169.254.169.254"]
        now[0] += egress.DNS_TTL_SECONDS + 1
        with pytest.raises(TargetRefused, match=r"hooks\.example resolves to 169\.254\.169\.254"):
            await resolver.resolve("hooks.example", 443)
        with pytest.raises(TargetRefused):  # the refusal is kept too, without asking DNS again
            await resolver.addresses("hooks.example")
        assert lookups == ["hooks.example", "hooks.example"]

    asyncio.run(scenario())


def test_the_proxy_host_is_trusted_and_addresses_are_vetted_without_dns() -> None:
    resolver = VettingResolver(TargetPolicy(), trusted=frozenset({"proxy.internal"}), lookup=lambda h: ["10.0.0.5"])
    assert asyncio.run(resolver.addresses("proxy.internal")) == ["10.0.0.5"]
    with pytest.raises(TargetRefused, match=r"refused: 169\.254\.169\.254 is not a public address"):
        resolver.check_address("169.254.169.254")
    resolver.check_address("8.8.8.8")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("egress_source_address", "not-an-ip"),
        ("egress_proxy", "socks5://127.0.0.1:1080"),
        ("egress_proxy", "127.0.0.1:3128"),
        ("allowed_target_cidrs", "10.0.0.0/8,nope"),
        ("delivery_ca_file", "/nonexistent/ca.pem"),
    ],
)
def test_egress_settings_that_cannot_work_stop_the_start(setting: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Egress.from_settings(Settings(**{setting: value}))
