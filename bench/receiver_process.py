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
import os
import resource
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import uvloop

SENDER_MODULE = "dochooks.delivery.sender_process"  # a sender process's command line names it

COUNT_PATH = "/__count"
ARRIVALS_PATH = "/__arrivals"


class _Tally:
    """What a receiver counted: every POST, the deliveries among them by their request id (a
    delivery's every attempt carries the same one), and with `record` when each arrived."""

    def __init__(self, record: bool = False) -> None:
        self.posts = 0
        self.request_ids: set[bytes] = set()
        self.repeats = 0  # POSTs of a request id seen before
        self.record = record
        self.arrivals: list[tuple[int, str, str]] = []  # (time.time_ns(), path, the body's "id"), when recording

    def post(self, path: str, body: bytes) -> None:
        arrived = time.time_ns()
        self.posts += 1
        at = body.rfind(_REQUEST_ID)  # spliced in last, after the payload
        if at >= 0:
            start = at + len(_REQUEST_ID)
            request_id = body[start : body.find(b'"', start)]
            if request_id in self.request_ids:
                self.repeats += 1
            else:
                self.request_ids.add(request_id)
        if self.record:
            at = body.find(b'"id":"') + 6
            self.arrivals.append((arrived, path, body[at : body.find(b'"', at)].decode()))

    def report(self) -> bytes:
        """Requests counted, CPU seconds used so far, deliveries (distinct request ids) and
        repeats, for the parent."""
        return f"{self.posts} {time.process_time():.3f} {len(self.request_ids)} {self.repeats}".encode()


_REQUEST_ID = b'"request_id":"'
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
                self._tally.post(head.split(b" ", 2)[1].decode(), body)
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
        tally.post(request.path, await request.read())
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
    answer; with `record`, it notes when each POST arrived. A port reports the counts of its
    kind: the answering ports share theirs, the hanging ones theirs."""

    async def serve() -> None:
        answering, hanging_tally = _Tally(record), _Tally(record)
        if kind == "raw":
            servers = [
                await _serve_raw(hanging_tally, hang=True) if i >= ports - hanging else await _serve_raw(answering)
                for i in range(ports)
            ]
            conn.send([server.sockets[0].getsockname()[1] for server in servers])
        else:
            conn.send([await _serve_aiohttp(answering)])
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
    """Requests the receiver counted, the deliveries among them (distinct request ids) and
    the repeats of one already counted; CPU seconds used by the receiver, by this process (all
    threads) with the dispatching processes it started (`_children_cpu`), and by this thread
    (the event loop's)."""

    requests: int
    receiver_cpu: float
    own_cpu: float
    loop_cpu: float
    at: float
    deliveries: int = 0
    repeats: int = 0

    def since(self, start: Usage) -> Usage:
        return Usage(
            self.requests - start.requests,
            self.receiver_cpu - start.receiver_cpu,
            self.own_cpu - start.own_cpu,
            self.loop_cpu - start.loop_cpu,
            self.at - start.at,
            self.deliveries - start.deliveries,
            self.repeats - start.repeats,
        )


def usage(port: int) -> Usage:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", COUNT_PATH)
        count, cpu, deliveries, repeats = conn.getresponse().read().split()
    finally:
        conn.close()
    now = time.process_time() + _children_cpu(), time.thread_time(), time.perf_counter()
    return Usage(int(count), float(cpu), *now, deliveries=int(deliveries), repeats=int(repeats))


def _children_cpu() -> float:
    """CPU seconds of this process's dispatching children: the ended ones (a sender process,
    another dispatcher; the receivers run until the run ends) and the live sender processes."""
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    live = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and SENDER_MODULE in (stat.parent / "cmdline").read_text():
                live += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return ended.ru_utime + ended.ru_stime + live


def arrivals(port: int) -> list[tuple[int, str, str]]:
    """When each POST arrived at a recording receiver (time.time_ns()), with its path and its
    body's id."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", ARRIVALS_PATH)
        return [(int(t), str(path), str(i)) for t, path, i in json.loads(conn.getresponse().read())]
    finally:
        conn.close()
