from __future__ import annotations

import asyncio
import base64
import threading

import pytest

from dochooks.delivery import egress
from dochooks.delivery.egress import AddressRefused, Egress, VettingResolver
from dochooks.errors import ConfigError
from dochooks.settings import Settings
from dochooks.webhooks.url_safety import AddressPolicy


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
    resolver = VettingResolver(AddressPolicy(), lookup=lookup)

    async def scenario() -> None:
        first = await asyncio.gather(*(resolver.resolve("hooks.example", 443) for _ in range(20)))
        assert {r[0]["host"] for r in first} == {"93.184.216.34"} and lookups == ["hooks.example"]
        answers["hooks.example"] = ["169.254.169.254"]
        now[0] += egress.DNS_TTL_SECONDS + 1
        with pytest.raises(AddressRefused, match=r"hooks\.example resolves to 169\.254\.169\.254"):
            await resolver.resolve("hooks.example", 443)
        with pytest.raises(AddressRefused):  # the refusal is kept too, without asking DNS again
            await resolver.addresses("hooks.example")
        assert lookups == ["hooks.example", "hooks.example"]

    asyncio.run(scenario())


def test_only_the_connectors_own_lookup_of_the_proxy_goes_unvetted() -> None:
    resolver = VettingResolver(AddressPolicy(), proxy_host="proxy.internal", lookup=lambda h: ["10.0.0.5"])

    async def scenario() -> None:
        (found,) = await resolver.resolve("proxy.internal", 3128)  # the connector reaching the proxy
        assert found["host"] == "10.0.0.5"
        with pytest.raises(AddressRefused):  # a webhook naming the proxy's host is vetted like any
            await resolver.addresses("proxy.internal")

    asyncio.run(scenario())
    with pytest.raises(AddressRefused, match=r"refused: 169\.254\.169\.254 is not a public address"):
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


def test_proxy_credentials_go_to_proxy_auth_and_never_into_a_message() -> None:
    egress_ = Egress.from_settings(Settings(egress_proxy="http://op%40corp:s3cret@proxy.internal:3128"))
    assert egress_.proxy == "http://proxy.internal:3128"
    assert egress_.proxy_headers == {"Proxy-Authorization": "Basic " + base64.b64encode(b"op@corp:s3cret").decode()}
    with pytest.raises(ConfigError) as refused:
        Egress.from_settings(Settings(egress_proxy="socks5://op:s3cret@proxy.internal:1080"))
    assert "s3cret" not in refused.value.detail


def test_a_waiter_that_gives_up_does_not_cancel_the_lookup_for_the_others() -> None:
    answer = threading.Event()

    def slow(host: str) -> list[str]:
        assert answer.wait(10)  # DNS answers once the impatient waiter has given up
        return ["93.184.216.34"]

    resolver = VettingResolver(AddressPolicy(), lookup=slow)

    async def scenario() -> list[str]:
        impatient = asyncio.create_task(asyncio.wait_for(resolver.addresses("hooks.example"), 0.05))
        patient = asyncio.create_task(resolver.addresses("hooks.example"))
        with pytest.raises(TimeoutError):
            await impatient
        answer.set()
        return await patient

    assert asyncio.run(scenario()) == ["93.184.216.34"]
