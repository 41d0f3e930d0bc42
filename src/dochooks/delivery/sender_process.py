"""Deliveries sent from a process of their own. In one process the dispatcher's event loop
and reqwest's runtime thread take turns at one GIL, and every answer waits for the loop to
let go of it: a request cost the dispatcher 2 to 3 times what it costs the sender alone
(bench/RESULTS.md). With a core to spare, the `DirectSender` runs in a child process
instead; requests and answers cross a socket pair as frames, each side's gathered into one
write per turn of its loop. The child dies with its parent, and a child that dies fails
only the requests it held: the next send starts another."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from dochooks.delivery.sender import SendResult
from dochooks.settings import Settings

logger = logging.getLogger("dochooks.dispatcher")
FRAME = struct.Struct("!II")  # the lengths of a frame's JSON head and of the raw body after it
ANSWER_SLACK_SECONDS = 5.0  # past its timeout, how long a request may wait for the child's answer
LOST = "the sender process ended before answering; the delivery is tried again"


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Frames(asyncio.Protocol):
    """Length-prefixed frames over a stream, both ways: a JSON head and raw bytes."""

    def __init__(self, on_frame: Callable[[Any, bytes], None], on_lost: Callable[[], None]) -> None:
        self._on_frame = on_frame
        self._on_lost = on_lost
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream's: it writes

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._on_lost()

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        at, size = 0, len(buffer)
        while size - at >= FRAME.size:
            head, body = FRAME.unpack_from(buffer, at)
            end = at + FRAME.size + head + body
            if end > size:
                break
            start = at + FRAME.size
            self._on_frame(orjson.loads(buffer[start : start + head]), bytes(buffer[start + head : end]))
            at = end
        del buffer[:at]

    def send(self, head: Any, body: bytes) -> None:
        if not self._out:  # the first of this turn: one write at its end carries them all
            asyncio.get_running_loop().call_soon(self._flush)
        encoded = orjson.dumps(head)
        self._out += (FRAME.pack(len(encoded), len(body)), encoded, body)

    def close(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


class SenderProcess:
    """A `Sender` whose requests a `DirectSender` in a child process makes. Each request
    waits at most the delivery timeout plus ANSWER_SLACK_SECONDS for its answer."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # Started now, so that it has booted (~0.3 s of imports) before the first delivery is due.
        self._process, unconnected = self._spawn()
        self._unconnected: socket.socket | None = unconnected  # the parent's end, until the loop takes it
        self._frames: Frames | None = None
        self._pending: dict[int, tuple[asyncio.Future[SendResult], float]] = {}
        self._last_id = 0
        self._watching: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[Frames] | None = None  # one child connected, whoever waits for it
        self._closing = False

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        frames = self._frames
        if frames is None:
            if self._starting is None or self._starting.done():
                self._starting = asyncio.ensure_future(self._start())
            frames = await asyncio.shield(self._starting)
        self._last_id += 1
        answer: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        deadline = time.monotonic() + self._settings.delivery_timeout + ANSWER_SLACK_SECONDS
        self._pending[self._last_id] = (answer, deadline)
        frames.send((self._last_id, url, headers), body)
        return await answer

    async def close(self) -> None:
        self._closing = True
        if self._watching is not None:
            self._watching.cancel()
        if self._frames is not None:
            self._frames.close()  # the child's end reads EOF: it finishes what it holds and exits
        if self._unconnected is not None:
            self._unconnected.close()
        try:
            await asyncio.to_thread(self._process.wait, self._settings.delivery_timeout + ANSWER_SLACK_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            await asyncio.to_thread(self._process.wait)
        self._fail_pending(LOST)

    @property
    def pid(self) -> int:
        """The child's process id (another once one that died is replaced)."""
        return self._process.pid

    def _spawn(self) -> tuple[subprocess.Popen[bytes], socket.socket]:
        """A child process and the parent's end of its socket. A fresh interpreter that
        imports only the sender (multiprocessing's spawn would import this program's main
        module again: a second or more before the first delivery), its settings the first frame."""
        parent_end, child_end = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(child_end.fileno())], pass_fds=[child_end.fileno()]
            )
        finally:
            child_end.close()
        settings = pickle.dumps(self._settings)
        parent_end.sendall(FRAME.pack(len(settings), 0) + settings)  # a few KB on a fresh socket: no wait
        return process, parent_end

    async def _start(self) -> Frames:
        sock, self._unconnected = self._unconnected, None
        if sock is None:  # the last child died: reaped, not left a zombie, and another started
            await asyncio.to_thread(self._process.wait)
            self._process, sock = await asyncio.to_thread(self._spawn)
        _, frames = await asyncio.get_running_loop().create_connection(
            lambda: Frames(self._answered, self._lost), sock=sock
        )
        self._frames = frames
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._watch())
        logger.debug("deliveries are sent from process %s", self._process.pid)
        return frames

    def _answered(self, head: Any, body: bytes) -> None:
        request_id, status, error, retry_after, refused = head
        pending = self._pending.pop(request_id, None)
        if pending is not None and not pending[0].done():
            pending[0].set_result(SendResult(status, body, error, retry_after, refused))

    def _lost(self) -> None:
        self._frames = None
        if not self._closing:
            logger.error(
                "the sender process %s ended; what it held failed, the next send starts another", self._process.pid
            )
        self._fail_pending(LOST)

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for answer, _ in pending.values():
            if not answer.done():
                answer.set_result(SendResult(None, b"", why))

    async def _watch(self) -> None:
        """Answer for the child a request it has held past its deadline (it should never)."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for request_id, (answer, deadline) in list(self._pending.items()):
                if now > deadline:
                    del self._pending[request_id]
                    if not answer.done():
                        timeout = self._settings.delivery_timeout
                        answer.set_result(SendResult(None, b"", f"timed out after {timeout:g} s"))


def _child(fd: int) -> None:
    from dochooks import logs
    from dochooks.cli_support import install_uvloop
    from dochooks.parent_death import die_with_parent

    die_with_parent()
    # Stopping is the parent's to decide: it closes the socket once its lanes are done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    settings = pickle.loads(_read_exactly(sock, FRAME.unpack(_read_exactly(sock, FRAME.size))[0]))
    logs.configure(settings.log_level, settings.log_format)
    install_uvloop()
    asyncio.run(_serve(settings, sock))


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            raise SystemExit(0)  # the parent closed before it said anything: nothing to do
        data += more
    return data


async def _serve(settings: Settings, sock: socket.socket) -> None:
    from dochooks.delivery.direct_sender import DirectSender
    from dochooks.delivery.egress import Egress

    sender = DirectSender(
        timeout=settings.delivery_timeout, max_per_host=settings.max_per_host, egress=Egress.from_settings(settings)
    )
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    sending: set[asyncio.Task[None]] = set()

    async def send(request_id: int, url: str, headers: dict[str, str], body: bytes) -> None:
        try:
            result = await sender.send(url, headers, body)
        except Exception as exc:  # whatever it was, the parent gets an answer
            result = SendResult(None, b"", f"{type(exc).__name__}: {exc}")
        frames.send((request_id, result.status, result.error, result.retry_after, result.refused), result.body)

    def requested(head: Any, body: bytes) -> None:
        request_id, url, headers = head
        task = loop.create_task(send(request_id, url, headers, body))
        sending.add(task)
        task.add_done_callback(sending.discard)

    def parent_gone() -> None:
        if not ended.done():
            ended.set_result(None)

    _, frames = await loop.create_connection(lambda: Frames(requested, parent_gone), sock=sock)
    await ended  # the parent closed its end: it has nothing more to send
    if sending:
        await asyncio.gather(*sending, return_exceptions=True)
    await sender.close()


if __name__ == "__main__":
    _child(int(sys.argv[1]))
