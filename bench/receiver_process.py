"""The receiver the benchmarks deliver to, in a process of its own: a minimal HTTP/1.1
server (or aiohttp.web) that answers 200 to every POST and counts them, on one port or many,
some of which may hang; what it counted, and when each POST arrived, on request."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import multiprocessing
import multiprocessing.connection
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import uvloop

COUNT_PATH = "/__count"
ARRIVALS_PATH = "/__arrivals"


class _Tally:
    def __init__(self, record: bool = False) -> None:
        self.posts = 0
        self.record = record
        self.arrivals: list[tuple[int, str]] = []  # (time.time_ns(), the body's "id"), when recording

    def report(self) -> bytes:
        """Requests counted and CPU seconds used so far, for the parent."""
        return f"{self.posts} {time.process_time():.3f}".encode()


_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class _RawHttp(asyncio.Protocol):
    """Just enough HTTP/1.1 for keep-alive clients sending Content-Length bodies
    (pipelining included); anything else gets a 400 and the connection closed."""

    def __init__(self, tally: _Tally, hang: bool = False) -> None:
        self._tally = tally
        self._hang = hang  # read requests, never answer: a receiver that hangs
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer
        buffer += data
        replies: list[bytes] = []
        close = False
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buffer[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                line_end = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            if b"\r\ntransfer-encoding:" in head:
                replies.append(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                close = True
                break
            total = end + 4 + length
            if len(buffer) < total:
                break
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            if head.startswith(b"get " + COUNT_PATH.encode()):
                text = self._tally.report()
                replies.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
            elif head.startswith(b"get " + ARRIVALS_PATH.encode()):
                text = json.dumps(self._tally.arrivals).encode()
                replies.append(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text))
            else:
                self._tally.posts += 1
                if self._tally.record:
                    at = body.find(b'"id":"') + 6
                    self._tally.arrivals.append((time.time_ns(), body[at : body.find(b'"', at)].decode()))
                if not self._hang:
                    replies.append(_OK)
            if b"\r\nconnection: close" in head:
                close = True
                break
        if replies:
            self._transport.write(b"".join(replies))
        if close:
            self._transport.close()


async def _serve_raw(tally: _Tally, hang: bool = False) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _RawHttp(tally, hang), "127.0.0.1", 0, backlog=4096)


async def _serve_aiohttp(tally: _Tally) -> int:
    from aiohttp import web

    async def post(request: web.Request) -> web.Response:
        await request.read()
        tally.posts += 1
        return web.Response(text="ok")

    async def count(request: web.Request) -> web.Response:
        return web.Response(body=tally.report())

    app = web.Application()
    app.router.add_get(COUNT_PATH, count)
    app.router.add_post("/{tail:.*}", post)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", 0), backlog=4096)
    await web.SockSite(runner, sock).start()
    port: int = sock.getsockname()[1]
    return port


def receiver_main(
    kind: str, conn: multiprocessing.connection.Connection, ports: int = 1, hanging: int = 0, record: bool = False
) -> None:
    """The receiver process: report its ports, then serve until terminated. The raw kind
    listens on `ports` ports (each a host of its own), the last `hanging` of which never
    answer; with `record`, it notes when each POST arrived."""

    async def serve() -> None:
        tally = _Tally(record)
        if kind == "raw":
            servers = [await _serve_raw(tally, hang=i >= ports - hanging) for i in range(ports)]
            conn.send([server.sockets[0].getsockname()[1] for server in servers])
        else:
            conn.send([await _serve_aiohttp(tally)])
        await asyncio.Event().wait()

    uvloop.run(serve())


@contextlib.contextmanager
def receiver(kind: str) -> Iterator[int]:
    """A receiver process for the duration of the block; yields its port."""
    with receivers(kind) as ports:
        yield ports[0]


@contextlib.contextmanager
def receivers(kind: str = "raw", *, ports: int = 1, hanging: int = 0, record: bool = False) -> Iterator[list[int]]:
    """A receiver process on `ports` ports for the duration of the block; yields them."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(
        target=receiver_main, args=(kind, child, ports, hanging, record), daemon=True, name="bench-receiver"
    )
    process.start()
    try:
        for _ in range(300):
            if parent.poll(0.1) or not process.is_alive():
                break
        if not parent.poll():
            raise RuntimeError("the receiver did not start")
        yield list(parent.recv())
    finally:
        process.terminate()
        process.join(10)


@dataclass(frozen=True)
class Usage:
    """Requests the receiver counted, and CPU seconds used by it, by this process (all
    threads) and by this thread (the event loop's)."""

    requests: int
    receiver_cpu: float
    own_cpu: float
    loop_cpu: float
    at: float

    def since(self, start: Usage) -> Usage:
        return Usage(
            self.requests - start.requests,
            self.receiver_cpu - start.receiver_cpu,
            self.own_cpu - start.own_cpu,
            self.loop_cpu - start.loop_cpu,
            self.at - start.at,
        )


def usage(port: int) -> Usage:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", COUNT_PATH)
        count, cpu = conn.getresponse().read().split()
    finally:
        conn.close()
    return Usage(int(count), float(cpu), time.process_time(), time.thread_time(), time.perf_counter())


def arrivals(port: int) -> list[tuple[int, str]]:
    """When each POST arrived at a recording receiver (time.time_ns()), with its body's id."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", ARRIVALS_PATH)
        return [(int(t), str(i)) for t, i in json.loads(conn.getresponse().read())]
    finally:
        conn.close()
