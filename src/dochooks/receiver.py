"""`dochooks listen`: a local webhook receiver that prints each delivery, checks its
signature against the secrets given and, with --forward-to, relays it to a local app."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp import web

from dochooks.delivery.signing import verify
from dochooks.errors import DochooksError
from dochooks.forwarding import Forwarder, Relayed
from dochooks.webhooks.secrets import signing_key

Now = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Verdict:
    verified: str  # yes, no, unknown (no secret given), or feed (pulled with the token, `listen --pull`)
    hint: str | None = None  # why it may have failed, when it did


def check(secrets: Sequence[str], headers: dict[str, str], body: bytes) -> Verdict:
    """Whether any of the secrets signed the delivery; when none did, what to try next."""
    if not secrets:
        return Verdict("unknown")
    for secret in secrets:
        try:
            if verify(
                signing_key(secret),
                headers.get("webhook-id", ""),
                int(headers.get("webhook-timestamp", "0")),
                body,
                headers.get("webhook-signature", ""),
            ):
                return Verdict("yes")
        except ValueError:  # a malformed secret or timestamp verifies nothing
            continue
    given = ", ".join(secret[:10] + "…" for secret in secrets)
    return Verdict(
        "no",
        f"none of the {len(secrets)} secrets given ({given}) matches; the delivery may come from another "
        "webhook: reveal its secret with GET /v1/webhooks/{id}/secret",
    )


def about(body: bytes) -> tuple[str | None, str | None]:
    """The delivery's topic and document id, when its body says them."""
    try:
        doc = json.loads(body)
        attributes = doc.get("attributes") or {}
        document = attributes.get("document_id", doc.get("id") if doc.get("type") == "documents" else None)
        return doc.get("topic"), None if document is None else str(document)
    except (ValueError, AttributeError):
        return None, None


def summary(
    at: datetime, headers: dict[str, str], body: bytes, verdict: Verdict, relayed: Relayed | None, **more: Any
) -> str:
    """The --json line of one delivery; `more` adds keys (a pulled event's id and cursor)."""
    topic, document = about(body)
    doc: dict[str, Any] = {
        "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "webhook_id": headers.get("webhook-id"),
        "topic": topic,
        "document_id": document,
        "verified": verdict.verified,
        "forwarded": None if relayed is None else relayed.status,
        "duration_ms": None if relayed is None else relayed.duration_ms,
    }
    if verdict.hint:
        doc["hint"] = verdict.hint
    if relayed is not None and relayed.error:
        doc["error"] = relayed.error
    return json.dumps(doc | more)


def describe(request_line: str, headers: dict[str, str], body: bytes, verdict: Verdict) -> list[str]:
    """What the receiver prints for one request (each line is given a timestamp)."""
    lines = [request_line]
    lines += [f"  {name}: {value}" for name, value in headers.items()]
    if verdict.verified != "unknown":
        lines.append("  signature: " + ("valid" if verdict.verified == "yes" else "INVALID"))
    if verdict.hint:
        lines.append(f"  hint: {verdict.hint}")
    try:
        lines += json.dumps(json.loads(body), indent=2).splitlines()
    except ValueError:
        lines += body.decode("utf-8", "replace").splitlines()
    return lines


def one_line(headers: dict[str, str], body: bytes, verdict: Verdict) -> str:
    """A delivery in one line: its topic, document and signature."""
    topic, document = about(body)
    signature = {
        "yes": "signed and verified",
        "no": "signature INVALID",
        "unknown": "not verified",
        "feed": "from the event feed",
    }
    webhook_id = headers.get("webhook-id")
    label = "event" if verdict.verified == "feed" else "webhook-id"  # a pulled event's webhook-id is its id
    return f"{topic or '?':<32} document {document or '-'}  {label} {webhook_id}  {signature[verdict.verified]}"


def relay_line(relayed: Relayed, url: str) -> str:
    if relayed.error:
        return f"  -> {relayed.status} to dochooks: {relayed.error}"
    return f"  -> {url} answered {relayed.status} in {relayed.duration_ms} ms"


def stamped(at: datetime, lines: list[str]) -> str:
    stamp = at.astimezone().strftime("%H:%M:%S.%f")[:-3]
    return "".join(f"{stamp} {line}\n" for line in lines)


def make_app(
    *,
    secrets: Sequence[str] = (),
    status: int = 200,
    forward_to: str | None = None,
    as_json: bool = False,
    brief: bool = False,
    out: TextIO = sys.stdout,
    now: Now = _utc_now,
) -> web.Application:
    """The receiver; `secrets` is read at each request, so a caller may add one later."""
    forwarder = Forwarder(forward_to) if forward_to else None

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        at = now()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verdict = check(secrets, headers, body)
        relayed = None
        if forwarder is not None:
            relayed = await forwarder.relay(request.method, request.headers.items(), body)
        if as_json:
            out.write(summary(at, headers, body, verdict, relayed) + "\n")
        elif brief:
            out.write(stamped(at, [one_line(headers, body, verdict)]))
        else:
            lines = describe(f"{request.method} {request.path_qs}", headers, body, verdict)
            if relayed is not None and forwarder is not None:
                lines.append(relay_line(relayed, forwarder.url))
            out.write(stamped(at, lines))
        out.flush()
        if relayed is None:
            return web.Response(status=status, text="received")
        return web.Response(status=relayed.status, body=relayed.body, content_type=None, headers=_answer(relayed))

    async def close(_: web.Application) -> None:
        if forwarder is not None:
            await forwarder.close()

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    app.on_cleanup.append(close)
    return app


def _answer(relayed: Relayed) -> dict[str, str]:
    return {"Content-Type": relayed.content_type} if relayed.content_type else {}


def run_receiver(
    *, host: str, port: int, secrets: Sequence[str], status: int, forward_to: str | None, as_json: bool
) -> None:
    """Serve until interrupted; a port that cannot be bound is a one-line error."""
    where = f"listening on http://{host}:{port}/" + (f", forwarding to {forward_to}" if forward_to else "")
    try:
        web.run_app(
            make_app(secrets=secrets, status=status, forward_to=forward_to, as_json=as_json),
            host=host,
            port=port,
            print=lambda _: print(
                stamped(_utc_now(), [f"{where} (Ctrl-C to stop)"]),
                end="",
                file=sys.stderr if as_json else sys.stdout,  # stdout holds only the JSON lines
                flush=True,
            ),
        )
    except OSError as exc:
        raise DochooksError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
