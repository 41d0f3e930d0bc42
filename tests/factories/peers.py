"""Real HTTP peers on loopback for tests: a receiver whose paths choose its answer, and a
proxy that records what it was asked for; each served from a thread of its own."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    remote: str | None = None  # the address the request came from
    answered: int | None = None  # the status it was answered with, once answered

    @property
    def about(self) -> tuple[str, str]:
        """The delivery's document id and topic, from its body."""
        body = json.loads(self.body)
        return str(body["id"]), str(body["topic"])


@dataclass
class Receiver:
    """A real HTTP receiver on loopback, run in its own thread. Paths choose the answer:
    /ok/*; /fail/N/* (500 for the first N hits); /redirect/* (302); /status/CODE/*; /slow/SECONDS/*;
    /big/* (8 MiB answer); /trickle/* (an answer a byte at a time, 20 s long);
    /retry-after/CODE/VALUE/* (CODE with a Retry-After: VALUE header, `_` read as a space);
    /fail-document/ID/N/* (500 for the first N requests about document ID, the body's `id`, or
    about each document with ID `any`; 200 for the rest)."""

    port: int = 0
    host: str = "127.0.0.1"
    scheme: str = "http"
    received: list[Received] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    hits_about: dict[tuple[str, str], int] = field(default_factory=dict)  # (path, document id): requests
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def at(self, prefix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    def wait_for(self, prefix: str, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(prefix)
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"{prefix}: wanted {count} requests within {timeout}s, got {len(self.at(prefix))}")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        got = Received(request.path, headers, body, time.monotonic(), request.remote)
        with self.lock:
            self.hits[request.path] = hit = self.hits.get(request.path, 0) + 1
            self.received.append(got)
        response = await self._answer(request, got, hit)
        with self.lock:
            got.answered = response.status
        return response

    async def _answer(self, request: web.Request, got: Received, hit: int) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        if parts[0] == "fail-document":
            document = got.about[0]
            if parts[1] in (document, "any"):
                with self.lock:
                    key = (request.path, document)
                    self.hits_about[key] = about = self.hits_about.get(key, 0) + 1
                if about <= int(parts[2]):
                    return web.Response(status=500, text="not yet")
        if parts[0] == "fail" and hit <= int(parts[1]):
            return web.Response(status=500, text="not yet")
        if parts[0] == "redirect":
            return web.Response(status=302, headers={"Location": "/ok/redirected"})
        if parts[0] == "status":
            return web.Response(status=int(parts[1]), text=f"status {parts[1]}")
        if parts[0] == "retry-after":
            return web.Response(status=int(parts[1]), headers={"Retry-After": parts[2].replace("_", " ")})
        if parts[0] == "slow":
            await asyncio.sleep(float(parts[1]))
        if parts[0] == "big":  # 8 MiB
            return web.Response(body=b"x" * (8 * 1024 * 1024))
        if parts[0] == "trickle":  # a byte every 0.2 s, for 20 s
            response = web.StreamResponse(headers={"Content-Length": "100"})
            await response.prepare(request)
            for _ in range(100):
                await response.write(b"x")
                await asyncio.sleep(0.2)
            return response
        return web.Response(text="received")


@contextmanager
def running_receiver(
    host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, *, port: int = 0, receiver: Receiver | None = None
) -> Iterator[Receiver]:
    """A receiver on loopback; given one that stopped, the same receiver (port, records) again."""
    if receiver is None:
        receiver = Receiver(port=port or free_port(), host=host, scheme="https" if tls else "http")
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, receiver.host, receiver.port, ssl_context=tls, reuse_address=True).start()

    with _served_in_thread(start(), runner.cleanup):
        yield receiver


@contextmanager
def _served_in_thread(start: Coroutine[Any, Any, Any], stop: Callable[[], Awaitable[Any]]) -> Iterator[None]:
    """Start a server on a new event loop in a thread of its own, and stop it there when the block
    ends: the calling thread may have an event loop of its own running (Playwright's)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failed: list[BaseException] = []

    def serve() -> None:
        try:
            loop.run_until_complete(start)
        except BaseException as exc:
            failed.append(exc)
            loop.close()
            return
        finally:
            started.set()
        loop.run_forever()
        loop.run_until_complete(stop())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait()
    if failed:
        raise failed[0]
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()


@dataclass
class Proxy:
    """A real HTTP proxy on loopback: tunnels CONNECT, forwards absolute-form requests, and
    keeps the first request line of every connection it was asked to make."""

    port: int
    asked: list[str] = field(default_factory=list)
    credentials: list[str] = field(default_factory=list)  # each connection's Proxy-Authorization, if any
    # The connections being served: stopping ends them while their loop still runs.
    serving: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        this = asyncio.current_task()
        assert this is not None  # a server's connection handler runs as a task
        self.serving.add(this)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            self.asked.append(line)
            for header in head.decode().split("\r\n")[1:]:
                if header.lower().startswith("proxy-authorization:"):
                    self.credentials.append(header.split(":", 1)[1].strip())
            method, target, _ = line.split(" ")
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
                up_writer.write(head)  # absolute-form: HTTP/1.1 servers must accept it
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a cancelled handler ends quietly: 3.11's start_server logs one that raises it
        finally:
            writer.close()
            self.serving.discard(this)

    async def stop(self) -> None:
        for task in list(self.serving):
            task.cancel()
        await asyncio.gather(*self.serving, return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@contextmanager
def running_proxy() -> Iterator[Proxy]:
    proxy = Proxy(free_port())
    servers: list[asyncio.Server] = []

    async def start() -> None:
        servers.append(await asyncio.start_server(proxy.handle, "127.0.0.1", proxy.port))

    async def stop() -> None:
        servers[0].close()
        await proxy.stop()

    with _served_in_thread(start(), stop):
        yield proxy


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def running_s3(bucket: str = "dochooks-files") -> Iterator[str]:
    """A local S3-compatible server (moto's, in a thread) with `bucket` made; its URL. The
    caller sets S3_CREDENTIALS in the environment, as an operator sets AWS's."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        import boto3

        boto3.client("s3", endpoint_url=url, **_boto_credentials()).create_bucket(Bucket=bucket)
        yield url
    finally:
        server.stop()


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }
