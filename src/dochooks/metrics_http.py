"""Serving /metrics: the bearer-token check (on the API's port and on a port of its own),
the listener on a port of its own, and where the start-up message says metrics are."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from dochooks.errors import ConfigError
from dochooks.settings import Settings

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PATH = "/metrics"
REFUSAL = b"send Authorization: Bearer <the metrics token>\n"


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries the metrics token (always, when none is set).
    Digests are compared, in constant time, so not even the token's length shows."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Header values arrive decoded as latin-1 (WSGI and ASGI alike): back to the bytes sent.
    sent = hashlib.sha256(given.strip().encode("latin-1", "replace")).digest()
    return hmac.compare_digest(sent, hashlib.sha256(token.encode()).digest())


def metrics_app(registry: CollectorRegistry, token: str | None) -> WsgiApp:
    """prometheus_client's WSGI app at /metrics only, behind the token when one is set."""
    serve: WsgiApp = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: metrics are at /metrics\n"]
        if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [REFUSAL]
        return serve(environ, start_response)

    return app


class _QuietHandler(WSGIRequestHandler):
    timeout = 10  # a client that stalls cannot hold the one serving thread for longer

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


@dataclass
class MetricsListener:
    """/metrics served from a daemon thread. One thread serves every scrape in turn: on
    SQLite each thread that reads opens its own connection, so a thread per scrape would
    leave a connection behind per scrape."""

    server: WSGIServer
    thread: threading.Thread

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_metrics_listener(registry: CollectorRegistry, host: str, port: int, token: str | None) -> MetricsListener:
    """Serve /metrics on host:port until `close()`; ConfigError when the address cannot be bound."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

        class _Server(WSGIServer):
            address_family = family  # IPv6 when the host is

        server = make_server(host, port, metrics_app(registry, token), _Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise ConfigError(f"cannot serve /metrics on {host}:{port}: {exc.strerror or exc}") from exc
    thread = threading.Thread(target=server.serve_forever, name="dochooks-metrics", daemon=True)
    thread.start()
    return MetricsListener(server, thread)


def http_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def where_metrics_are(settings: Settings, *, api: bool) -> str:
    """For the start-up message of `serve` (`api`) or `worker`: where /metrics is served and
    what it takes; never the token."""
    if not settings.metrics_port and not api:
        return "no metrics (DOCHOOKS_METRICS_PORT serves them)"
    if settings.metrics_port:
        url = http_url(settings.metrics_host, settings.metrics_port) + PATH
        host = settings.metrics_host
    else:
        url = f"{PATH} on the API's port"
        host = settings.host
    if settings.metrics_token:
        return f"metrics at {url} (bearer token required)"
    if _loopback(host):
        return f"metrics at {url}"
    return (
        f"metrics at {url}, open to anyone who reaches {host}: "
        "set DOCHOOKS_METRICS_PORT or DOCHOOKS_METRICS_TOKEN to keep them private"
    )
