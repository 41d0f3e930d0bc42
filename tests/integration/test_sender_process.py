"""Deliveries sent from a process of their own (delivery/sender_process.py), over real HTTP
on loopback: what arrives, what the child vets, a child that dies, and when it is used."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from dochooks.delivery import sender_process
from dochooks.delivery.direct_sender import DirectSender
from dochooks.delivery.egress import Egress
from dochooks.delivery.proxy_sender import ProxySender
from dochooks.delivery.sender import SendResult, open_sender
from dochooks.delivery.sender_process import LOST, SenderProcess
from dochooks.runtime import Runtime
from dochooks.settings import Settings
from tests.factories.deliveries import dispatch_until, queue_delivery, status_of
from tests.factories.peers import Receiver
from tests.factories.processes import sender_children
from tests.factories.stores import make_settings

HEADERS = {"Content-Type": "application/json", "Accept": "*/*", "Authorization": "Bearer t", "webhook-id": "msg_1"}


def senders_alive() -> list[int]:
    """This process's live sender children, by pid."""
    return sender_children(os.getpid())


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return make_settings(tmp_path, f"sqlite:///{tmp_path}/unused.db", **{"sender_process": True, **overrides})


def test_a_request_goes_out_from_the_child_as_given_and_its_answer_comes_back(
    tmp_path: Path, receiver: Receiver
) -> None:
    async def scenario() -> tuple[SendResult, int]:
        sender = SenderProcess(settings(tmp_path))
        result = await sender.send(receiver.url("/ok/child"), HEADERS, b'{"a":1}')
        assert senders_alive() == [sender.pid]
        await sender.close()
        return result, sender.pid

    result, pid = asyncio.run(scenario())
    assert (result.status, result.body, result.error) == (200, b"received", None)
    (got,) = receiver.at("/ok/child")
    assert {name: got.headers[name.lower()] for name in HEADERS} == HEADERS
    assert got.body == b'{"a":1}'
    assert pid != os.getpid()
    assert senders_alive() == []  # closing ended it


def test_the_child_vets_addresses_and_keeps_the_timeout(tmp_path: Path, receiver: Receiver) -> None:
    async def scenario() -> tuple[SendResult, SendResult]:
        strict = SenderProcess(settings(tmp_path, allow_private_targets=False))
        patient = SenderProcess(settings(tmp_path, delivery_timeout=0.5))
        try:
            return (
                await strict.send(receiver.url("/ok/private"), HEADERS, b"{}"),
                await patient.send(receiver.url("/slow/3/late"), HEADERS, b"{}"),
            )
        finally:
            await strict.close()
            await patient.close()

    refused, late = asyncio.run(scenario())
    assert refused.refused and refused.status is None and "127.0.0.1" in (refused.error or "")
    assert receiver.at("/ok/private") == []
    assert late.status is None and late.error == "timed out after 0.5 s"


def test_a_child_that_dies_fails_only_what_it_held_and_the_next_send_starts_another(
    tmp_path: Path, receiver: Receiver
) -> None:
    async def scenario() -> tuple[SendResult, SendResult, int, int]:
        sender = SenderProcess(settings(tmp_path))
        try:
            await sender.send(receiver.url("/ok/first"), HEADERS, b"{}")
            first = sender.pid
            held = asyncio.ensure_future(sender.send(receiver.url("/slow/5/held"), HEADERS, b"{}"))
            await asyncio.sleep(0.5)  # it is on the wire, waiting for the slow answer
            os.kill(first, signal.SIGKILL)
            lost = await asyncio.wait_for(held, 5)
            after = await sender.send(receiver.url("/ok/after"), HEADERS, b"{}")
            assert senders_alive() == [sender.pid]
            return lost, after, first, sender.pid
        finally:
            await sender.close()

    lost, after, first, second = asyncio.run(scenario())
    assert (lost.status, lost.error) == (None, LOST)
    assert after.status == 200 and len(receiver.at("/ok/after")) == 1
    assert first != second


def test_an_answer_the_child_never_sends_fails_once_the_timeout_and_its_slack_are_past(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[SendResult, float]:
        sender = SenderProcess(settings(tmp_path, delivery_timeout=0.5))
        try:
            awake = await sender.send(receiver.url("/ok/awake"), HEADERS, b"{}")
            assert awake.status == 200  # booted and connected
            monkeypatch.setattr(sender_process, "ANSWER_SLACK_SECONDS", 0.5)  # read as each request is sent
            os.kill(sender.pid, signal.SIGSTOP)  # alive, holding what it is sent, answering nothing
            began = time.monotonic()
            result = await asyncio.wait_for(sender.send(receiver.url("/ok/stopped"), HEADERS, b"{}"), 5)
            return result, time.monotonic() - began
        finally:
            os.kill(sender.pid, signal.SIGCONT)
            await sender.close()

    result, waited = asyncio.run(scenario())
    assert (result.status, result.error) == (None, "timed out after 0.5 s")
    assert waited >= 1.0  # not before the timeout and the slack; the watch looks once a second


def test_the_dispatcher_delivers_through_a_sender_process_and_logs_the_attempt(
    runtime: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_process, "usable_cores", lambda: 2)
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/ok/dispatched"))
    children: list[int] = []

    def done() -> bool:
        children.append(len(senders_alive()))
        return status_of(runtime, tenant, delivery).status == "succeeded"

    dispatch_until(runtime, done, sender_process=True)
    assert max(children) == 1  # it was sent from there
    (attempt,) = status_of(runtime, tenant, delivery).attempts
    assert (attempt.response_status, attempt.response_body) == (200, "received")
    assert len(receiver.at("/ok/dispatched")) == 1
    assert senders_alive() == []  # the dispatcher's end closed it


@pytest.mark.parametrize(
    ("wanted", "cores", "proxy", "chosen"),
    [
        (True, 2, None, SenderProcess),
        (True, 1, None, DirectSender),  # no core to spare: the child would only add its traffic
        (False, 2, None, DirectSender),
        (True, 2, "http://127.0.0.1:3128", ProxySender),  # through a proxy, aiohttp in-process (see ARCHITECTURE)
    ],
)
def test_a_sender_process_is_used_where_a_core_is_spare_and_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wanted: bool, cores: int, proxy: str | None, chosen: type
) -> None:
    monkeypatch.setattr(sender_process, "usable_cores", lambda: cores)
    configured = settings(tmp_path, sender_process=wanted, egress_proxy=proxy)
    sender = open_sender(configured, Egress.from_settings(configured))
    assert type(sender) is chosen
    asyncio.run(sender.close())
