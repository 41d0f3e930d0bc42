"""`dochooks listen`: a local webhook receiver that prints each delivery and checks its signature."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from aiohttp import web

from dochooks.delivery.signing import verify
from dochooks.errors import DochooksError
from dochooks.webhooks.secrets import signing_key


def describe(request_line: str, headers: dict[str, str], body: bytes, secret: str | None) -> str:
    """What the receiver prints for one request."""
    lines = [request_line]
    lines += [f"  {name}: {value}" for name, value in headers.items()]
    if secret:
        try:
            ok = verify(
                signing_key(secret),
                headers.get("webhook-id", ""),
                int(headers.get("webhook-timestamp", "0")),
                body,
                headers.get("webhook-signature", ""),
            )
        except ValueError:
            ok = False
        lines.append("  signature: " + ("valid" if ok else "INVALID"))
    try:
        lines.append(json.dumps(json.loads(body), indent=2))
    except ValueError:
        lines.append(body.decode("utf-8", "replace"))
    return "\n".join(lines) + "\n"


def make_app(*, secret: str | None, status: int, out: TextIO = sys.stdout) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        out.write(describe(f"{request.method} {request.path_qs}", headers, body, secret))
        out.flush()
        return web.Response(status=status, text="received")

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def run_receiver(*, host: str, port: int, secret: str | None, status: int) -> None:
    """Serve until interrupted; a port that cannot be bound is a one-line error."""
    try:
        web.run_app(
            make_app(secret=secret, status=status),
            host=host,
            port=port,
            print=lambda _: print(f"listening on http://{host}:{port}/ (Ctrl-C to stop)", flush=True),
        )
    except OSError as exc:
        raise DochooksError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
