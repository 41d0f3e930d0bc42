"""Factories for tests: settings, databases, tenants, webhooks and receivers, made on demand."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web

from dochooks.db import Database
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


@dataclass
class Receiver:
    """A real HTTP receiver on loopback, run in its own thread. Paths choose the answer:
    /ok/*; /fail/N/* (500 for the first N hits); /redirect/* (302); /status/CODE/*; /slow/SECONDS/*;
    /big/* (8 MiB answer); /trickle/* (an answer a byte at a time, 20 s long)."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

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
                Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body, time.monotonic())
            )
        parts = request.path.strip("/").split("/")
        if parts[0] == "fail" and hit <= int(parts[1]):
            return web.Response(status=500, text="not yet")
        if parts[0] == "redirect":
            return web.Response(status=302, headers={"Location": "/ok/redirected"})
        if parts[0] == "status":
            return web.Response(status=int(parts[1]), text=f"status {parts[1]}")
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
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(port=free_port())
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", receiver.port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@dataclass
class Api:
    """A small JSON:API client over real HTTP, for tests."""

    base: str
    token: str | None = None

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
                status, text = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        return status, (json.loads(text) if text.strip() else None)


def webhook_doc(url: str, topics: list[str] | None = None, **attributes: Any) -> dict[str, Any]:
    return {
        "data": {
            "type": "webhooks",
            "attributes": {"name": "ERP", "url": url, "topics": topics or ["document-received"], **attributes},
        }
    }


@contextmanager
def live_service(rt: Any) -> Iterator[str]:
    """The real ASGI app with its dispatcher, served by uvicorn on a free loopback port."""
    import uvicorn

    from dochooks.api.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning"))
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
