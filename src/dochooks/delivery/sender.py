"""Sending one delivery request. The engine decides policy (what to send: targets.py and
attempts.py; what counts as success, when to retry: outcomes.py); a sender only sends.
Tests swap in a fake sender (tests/factories/deliveries.py's FakeSender).

Two senders, chosen by the egress (`open_sender`): `DirectSender` (pyreqwest, a third of
aiohttp's CPU a request) when deliveries go straight to their receivers, `ProxySender`
(aiohttp) through `DOCHOOKS_EGRESS_PROXY`: https through a proxy must CONNECT to the vetted
address yet verify the certificate by the name, and reqwest takes both from one URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from dochooks.delivery.egress import Egress
from dochooks.settings import Settings

RESPONSE_EXCERPT_BYTES = 64 * 1024


@dataclass(frozen=True)
class SendResult:
    status: int | None  # None when no response arrived
    body: bytes  # at most RESPONSE_EXCERPT_BYTES
    error: str | None
    retry_after: str | None = None  # a 429's or 503's Retry-After header, as sent (no other status reads it)
    refused: bool = False  # not sent: the address policy refuses where the URL leads


class Sender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult: ...

    async def close(self) -> None: ...


def open_sender(settings: Settings, egress: Egress) -> Sender:
    """The dispatcher's sender for this egress: its timeout and connection caps from the settings."""
    # Imported here: both senders import SendResult from this module.
    if egress.proxy:
        from dochooks.delivery.proxy_sender import ProxySender

        return ProxySender(
            timeout=settings.delivery_timeout,
            max_connections=settings.max_in_flight,
            max_per_host=settings.max_per_host,
            egress=egress,
        )
    from dochooks.delivery.sender_process import SenderProcess, usable_cores

    if settings.sender_process and usable_cores() > 1:
        return SenderProcess(settings)
    from dochooks.delivery.direct_sender import DirectSender

    return DirectSender(timeout=settings.delivery_timeout, max_per_host=settings.max_per_host, egress=egress)
