"""Factories for tests: settings, databases, tenants, webhooks and receivers, made on demand."""

from __future__ import annotations

import asyncio
import dataclasses
import http.cookiejar
import os
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from aiohttp import web

from dochooks.db import Database
from dochooks.delivery import log
from dochooks.delivery.dispatcher import Dispatcher
from dochooks.delivery.leases import Claimed
from dochooks.delivery.publish import publish
from dochooks.delivery.sender import Sender, SendResult
from dochooks.runtime import Runtime
from dochooks.settings import Settings
from dochooks.tenants import NewTenant, create_tenant
from dochooks.webhooks import store
from dochooks.webhooks.config import Webhook
from dochooks.webhooks.secrets import Cipher

PG_ADMIN_URL = os.environ.get("DOCHOOKS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# The topics of a plain upload, in order, when no validation levels are configured.
PLAIN_FLOW = (
    "document-received",
    "preprocessing-done",
    "automatic-separation-done",
    "separation-done",
    "automatic-classification-done",
    "classification-done",
    "automatic-extraction-done",
    "extraction-done",
    "processing-finished",
)
TEST_KEY = "hVfXnQzGmHf0uF1fJ8u7bq6h2KkQ3p6xk8z7r1wJxQo="


def postgres_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    """Skip without PostgreSQL on a developer's machine; in CI its absence is a failure."""
    if postgres_reachable():
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}, and CI must test against it")
    pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL} (set DOCHOOKS_TEST_POSTGRES); skipped outside CI")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    require_postgres()
    name = "dochooks_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/dochooks.db"
    else:
        with postgres_database() as url:
            yield url


def make_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "data_dir": tmp_path / "data",
        "secret_key": TEST_KEY,
        "allow_private_targets": True,
        "poll_interval": 0.2,
    }
    values.update(overrides)
    return Settings(**values)


def make_tenant(db: Database, name: str = "acme") -> NewTenant:
    with db.transaction() as conn:
        return create_tenant(conn, name)


def make_webhook(db: Database, cipher: Cipher, tenant_id: int, url: str, **overrides: Any) -> Webhook:
    values: dict[str, Any] = {
        "name": "hook",
        "url": url,
        "headers": {"Authorization": "Bearer receiver-token-0123456789"},
        "topics": ("document-received",),
        "enabled": True,
    }
    values.update(overrides)
    with db.transaction() as conn:
        return store.create_webhook(conn, cipher, tenant_id=tenant_id, now_ms=int(time.time() * 1000), **values)


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


@dataclass
class Receiver:
    """A real HTTP receiver on loopback, run in its own thread. Paths choose the answer:
    /ok/*; /fail/N/* (500 for the first N hits); /redirect/* (302); /status/CODE/*; /slow/SECONDS/*;
    /big/* (8 MiB answer); /trickle/* (an answer a byte at a time, 20 s long);
    /retry-after/CODE/VALUE/* (CODE with a Retry-After: VALUE header, `_` read as a space)."""

    port: int = 0
    host: str = "127.0.0.1"
    scheme: str = "http"
    received: list[Received] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
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
        with self.lock:
            self.hits[request.path] = hit = self.hits.get(request.path, 0) + 1
            self.received.append(
                Received(
                    request.path,
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                    time.monotonic(),
                    request.remote,
                )
            )
        parts = request.path.strip("/").split("/")
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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


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

    with _served_in_thread(start(), stop):
        yield proxy


@dataclass
class Api:
    """A small JSON:API client over real HTTP, for tests."""

    base: str
    token: str | None = None
    last_headers: dict[str, str] = field(default_factory=dict)  # of the last response

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/vnd.api+json",
        token: str | None = None,
    ) -> tuple[int, Any]:
        import json
        import urllib.error
        import urllib.request

        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.base + path, data=data, method=method)
        bearer = token if token is not None else self.token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, text, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, text, headers = exc.code, exc.read(), exc.headers
        self.last_headers = {k.lower(): v for k, v in headers.items()}
        return status, (json.loads(text) if text.strip() else None)


def webhook_doc(url: str, topics: list[str] | None = None, **attributes: Any) -> dict[str, Any]:
    return {
        "data": {
            "type": "webhooks",
            "attributes": {"name": "ERP", "url": url, "topics": topics or ["document-received"], **attributes},
        }
    }


@contextmanager
def live_service(rt: Any, **app_options: Any) -> Iterator[str]:
    """The real ASGI app with its dispatcher, served by uvicorn on a free loopback port;
    `app_options` go to `create_app` (e.g. `limiter_clock`)."""
    import uvicorn

    from dochooks.app import create_app

    port = free_port()
    app = create_app(rt, **app_options)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def make_pdf(*pages: str) -> bytes:
    """A small, valid PDF with one line of Helvetica text on each page."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]  # the page tree is filled in below
    kids = []
    font = 3 + 2 * len(pages)
    for i, text in enumerate(pages):
        page, content = 3 + 2 * i, 4 + 2 * i
        kids.append(f"{page} 0 R")
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        resources = f"<< /Font << /F1 {font} 0 R >> >>"
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content} 0 R /Resources {resources} >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>"
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def document_doc(content: bytes, **attributes: Any) -> dict[str, Any]:
    import base64

    return {
        "data": {
            "type": "documents",
            "attributes": {"files": [{"base64_file": base64.b64encode(content).decode()}], **attributes},
        }
    }


def multipart(*fields: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body of (name, filename or None, value) fields, and its content type."""
    boundary = "dochooks-test-boundary"
    out = b""
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- queueing and dispatching deliveries ---------------------------------------------

PAYLOAD = {
    "id": "42",
    "type": "documents",
    "attributes": {
        "status": "pending",
        "tenant_id": 1,
        "sla_deadline": None,
        "custom_fields": {"a": "b"},
        "external_id": "EX-1",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "document_id": 42,
    },
}


def dispatch_until(
    rt: Runtime,
    done: Callable[[], bool],
    timeout: float = 30,
    *,
    sender: Sender | None = None,
    fake_time: FakeTime | None = None,
    **settings: Any,
) -> None:
    """Run a real dispatcher until `done()` holds (checked in a worker thread) or time runs out;
    with `sender` it sends nothing itself, with `fake_time` it reads that fake time's clocks."""
    tuned = rt.tuned(**settings)
    if fake_time:
        tuned = dataclasses.replace(tuned, clock=fake_time)
    monotonic: dict[str, Any] = {"monotonic": fake_time.monotonic} if fake_time else {}

    async def main() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(Dispatcher(tuned, sender=sender, **monotonic).run(stopping))
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, "the dispatcher did not finish in time"
            await asyncio.sleep(0.02)
        stopping.set()
        await task

    asyncio.run(main())


def queue_delivery(rt: Runtime, url: str, **webhook: Any) -> tuple[int, int, str]:
    """A tenant, a webhook at `url` and one published event; returns (tenant, delivery id, secret)."""
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, url, **webhook)
    with rt.db.transaction() as conn:
        published = publish(
            conn, tenant_id=tenant.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=rt.clock.now_ms()
        )
        (delivery,) = log.deliveries_of_event(conn, tenant_id=tenant.tenant_id, event_id=published.event_id)
    return tenant.tenant_id, delivery.id, hook.secret


def status_of(rt: Runtime, tenant: int, delivery: int) -> log.Delivery:
    with rt.db.read() as conn:
        return log.get_delivery(conn, tenant_id=tenant, delivery_id=delivery)


# --- the delivery engine without I/O ---------------------------------------------------


def claimed(webhook: int = 1, tenant: int = 1, *, attempt: int = 1, delivery: int = 0, **fields: Any) -> Claimed:
    """A claimed delivery as a claim returns it, without a database."""
    values: dict[str, Any] = {
        "request_id": "0123456789abcdef0123456789abcdef",
        "topic": "document-received",
        "payload": '{"id":"42"}',
        "lease_end": 0,
        "webhook_version": 0,
        **fields,
    }
    return Claimed(delivery, webhook, tenant, attempt_number=attempt, **values)


class FakeTime:
    """Both clocks the delivery engine reads (monotonic seconds, wall-clock ms), moved by the
    test alone: what takes time in production takes none here."""

    def __init__(self, now_ms: int = 1_800_000_000_000) -> None:
        self.seconds = 1000.0  # monotonic: any start will do, as long as it only goes forward
        self.start_ms = now_ms

    def monotonic(self) -> float:
        return self.seconds

    def now_ms(self) -> int:
        return self.start_ms + round((self.seconds - 1000.0) * 1000)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


OK = SendResult(200, b"ok", None)


@dataclass(frozen=True)
class Sent:
    url: str
    headers: dict[str, str]
    body: bytes


class FakeSender:
    """A `Sender` that sends nothing: it notes each request and answers `answer`, taking
    `takes` seconds of `time` if given."""

    def __init__(self, answer: SendResult = OK, *, time: FakeTime | None = None, takes: float = 0.0) -> None:
        self._answer = answer
        self._time = time
        self._takes = takes
        self.sent: list[Sent] = []
        self.closed = False

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        self.sent.append(Sent(url, headers, body))
        if self._time is not None:
            self._time.advance(self._takes)
        return self._answer

    async def close(self) -> None:
        self.closed = True


# --- the web UI without a browser -----------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Page:
    status: int
    headers: Any  # email.message.Message: get_all("Set-Cookie") gives every cookie
    text: str

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    def csrf(self) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.text)
        assert found, "the page has no form with a CSRF token"
        return found[1]


@dataclass
class WebClient:
    """A cookie-keeping HTTP client for the UI's pages, over real HTTP; it does not follow redirects."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def _open(self, request: urllib.request.Request) -> Page:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        try:
            with opener.open(request, timeout=30) as response:
                return Page(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.headers, exc.read().decode())

    def get(self, path: str, headers: dict[str, str] | None = None) -> Page:
        return self._open(urllib.request.Request(self.base + path, headers=headers or {}))

    def post(self, path: str, fields: dict[str, Any]) -> Page:
        data = urllib.parse.urlencode(fields, doseq=True).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    def post_multipart(self, path: str, *fields: tuple[str, str | None, bytes]) -> Page:
        """A multipart/form-data post of (name, filename or None, value) fields, as a file input sends."""
        data, kind = multipart(*fields)
        return self._open(urllib.request.Request(self.base + path, data=data, headers={"Content-Type": kind}))

    def sign_in(self, token: str) -> Page:
        form = self.get("/sign-in")
        signed_in = self.post("/sign-in", {"csrf_token": form.csrf(), "token": token})
        assert signed_in.status == 303, signed_in.text
        return signed_in

    def csrf(self) -> str:
        """The session's CSRF token, as the pages carry it."""
        return self.get("/development/webhooks").csrf()
