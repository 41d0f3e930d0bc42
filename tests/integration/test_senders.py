"""The senders alone, over real HTTP on loopback: what goes on the wire, where a name's
requests connect as its DNS answer changes, and the operator's CA file."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
import trustme

from dochooks.delivery import egress
from dochooks.delivery.direct_sender import DirectSender
from dochooks.delivery.egress import Egress
from dochooks.delivery.proxy_sender import ProxySender
from dochooks.delivery.sender import Sender, SendResult
from dochooks.settings import Settings
from dochooks.webhooks.url_safety import AddressPolicy
from tests.factories.peers import Receiver, free_port, running_proxy, running_receiver

OPENED = AddressPolicy.from_settings(Settings(allow_private_targets=False, allowed_target_cidrs="127.0.0.0/8,::1/128"))
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "dochooks/test",
    "Accept": "*/*",
    "Authorization": "Bearer receiver-token",
    "webhook-id": "msg_1",
}


def sent(sender: Sender, url: str, body: bytes = b'{"a":1}') -> SendResult:
    async def once() -> SendResult:
        try:
            return await sender.send(url, HEADERS, body)
        finally:
            await sender.close()

    return asyncio.run(once())


@pytest.mark.parametrize("through_proxy", [False, True])
def test_the_wire_carries_the_headers_given_and_only_those_http_needs(receiver: Receiver, through_proxy: bool) -> None:
    """Nothing the delivery log does not show: no Accept-Encoding, no User-Agent of the library's."""
    with running_proxy() as proxy:
        policy = Egress(OPENED, proxy=proxy.url if through_proxy else None)
        sender: Sender = (
            ProxySender(timeout=5, max_connections=1, max_per_host=1, egress=policy)
            if through_proxy
            else DirectSender(timeout=5, max_per_host=1, egress=policy)
        )
        result = sent(sender, receiver.url("/ok/wire"))
    assert (result.status, result.body, result.error) == (200, b"received", None)
    (got,) = receiver.at("/ok/wire")
    assert set(got.headers) == {name.lower() for name in HEADERS} | {"host", "content-length"}
    assert {name: got.headers[name.lower()] for name in HEADERS} == HEADERS
    assert got.body == b'{"a":1}'


def test_a_name_connects_to_its_vetted_address_and_follows_a_changed_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # hooks.test resolves nowhere but in this lookup: a request that arrives went to the address it vetted.
    answers = {"hooks.test": ["127.0.0.2"]}
    monkeypatch.setattr(egress, "DNS_TTL_SECONDS", 0.2)
    port = free_port()
    sender = DirectSender(timeout=5, max_per_host=2, egress=Egress(OPENED), lookup=lambda host: answers[host])
    url = f"http://hooks.test:{port}/ok/pinned"

    async def scenario() -> list[SendResult]:
        results = [await sender.send(url, HEADERS, b"{}")]
        answers["hooks.test"] = ["127.0.0.3"]
        await asyncio.sleep(0.3)
        results.append(await sender.send(url, HEADERS, b"{}"))
        answers["hooks.test"] = ["169.254.169.254"]  # rebound to the metadata service
        await asyncio.sleep(0.3)
        results.append(await sender.send(url, HEADERS, b"{}"))
        await sender.close()
        return results

    with running_receiver("127.0.0.2", port=port) as first, running_receiver("127.0.0.3", port=port) as second:
        before, after, rebound = asyncio.run(scenario())
    assert before.status == after.status == 200
    assert len(first.at("/ok/pinned")) == 1 and len(second.at("/ok/pinned")) == 1
    assert first.at("/ok/pinned")[0].headers["host"] == f"hooks.test:{port}"
    assert rebound.status is None and rebound.refused
    assert rebound.error is not None and rebound.error.startswith("refused: hooks.test resolves to 169.254.169.254")


def test_every_certificate_of_the_operators_ca_file_is_trusted(tmp_path: Path) -> None:
    other, issuer = trustme.CA(), trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    issuer.issue_cert("localhost").configure_cert(context)
    ca_file = tmp_path / "cas.pem"
    ca_file.write_bytes(other.cert_pem.bytes() + issuer.cert_pem.bytes())  # the issuer second
    with running_receiver(tls=context) as receiver:
        url = f"https://localhost:{receiver.port}/ok/ca"
        untrusted = sent(DirectSender(timeout=5, max_per_host=1, egress=Egress(OPENED)), url)
        trusted = sent(DirectSender(timeout=5, max_per_host=1, egress=Egress(OPENED, ca_file=str(ca_file))), url)
    assert untrusted.status is None and untrusted.error is not None and "UnknownIssuer" in untrusted.error
    assert "://" not in untrusted.error  # the URL is the log's to show, not the error's
    assert trusted.status == 200 and len(receiver.at("/ok/ca")) == 1
