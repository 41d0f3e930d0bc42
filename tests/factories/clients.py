"""Clients of a running service for tests: the service itself on a free port, a JSON:API
client and the request bodies it sends, and a cookie-keeping client of the web UI."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.factories.peers import free_port


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

    def follow(self, answer: Page) -> Page:
        """The page a post's 303 leads to, fetched as a browser does (and as a reload does again)."""
        assert answer.status == 303 and answer.location, (answer.status, answer.text[:500])
        return self.get(answer.location)

    def sign_in(self, token: str) -> Page:
        form = self.get("/sign-in")
        signed_in = self.post("/sign-in", {"csrf_token": form.csrf(), "token": token})
        assert signed_in.status == 303, signed_in.text
        return signed_in

    def csrf(self) -> str:
        """The session's CSRF token, as the pages carry it."""
        return self.get("/development/webhooks").csrf()


def post_delivery(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a delivery's body with these headers (made by hand or copied from the delivery
    log) to a receiver, as dochooks would; the answer's status."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def settled_delivery(api: Api, delivery_id: str, attempts: int = 1, timeout: float = 30) -> dict[str, Any]:
    """A delivery's attributes once `attempts` attempts of it are recorded and it is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = api.call("GET", f"/v1/deliveries/{delivery_id}")
        assert status == 200, body
        found: dict[str, Any] = body["data"]["attributes"]
        if len(found["attempts"]) >= attempts and found["status"] != "pending":
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
