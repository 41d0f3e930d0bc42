"""Rendering pages: the Jinja environment (autoescaped), its filters, and the headers every page carries."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dochooks.documents.processors import ACCEPTED_FILES
from dochooks.documents.workflow import State, waiting_level
from dochooks.topics import KNOWN, OPERATIONAL_TOPICS, STAGES, TOPICS
from dochooks.webhooks.secrets import mask

HERE = Path(__file__).parent
STATIC = HERE / "static"  # our own style.css and app.js, served at /static
# Only our own files: no inline scripts or styles, no other origin, no framing.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# What a page says after a redirect (`?notice=...`); unknown keys say nothing.
NOTICES = {
    "created": "Webhook added. Deliveries of its topics start now.",
    "saved": "Saved.",
    "deleted": "Webhook deleted.",
    "test-queued": "Test delivery queued: it appears in the log below.",
    "resent": "Delivery queued again: it is sent now.",
    "in-flight": "That delivery has an attempt in flight; resend it once the attempt is recorded.",
    "uploaded": "Document uploaded: it is on its way through the workflow.",
    "validated": "Validation completed: the document moves on.",
    "recovery-started": "Recovery started: the deliveries are made due again in the background.",
    "recovery-joined": "A recovery of this webhook is under way already: its progress is shown.",
    "recovery-disabled": "Enable the webhook before recovering its deliveries: a disabled one's fail unsent.",
    "recovery-invalid": "Choose the time to recover from, and which deliveries.",
    "secret-rotated": "Signing secret rotated: reveal the new one for your receiver. The old one signs for 24 hours.",
}
_STEP_TITLES = {stage: stage.capitalize() for stage in STAGES}


def when(ms: int | None) -> str:
    """A time as people read it: UTC, to the second."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def pretty_json(value: object) -> str:
    """JSON as sent (keys in their order), indented for reading; autoescaped like any text."""
    return json.dumps(value, indent=2, ensure_ascii=False)


_STATES: dict[str, str] = {
    State.PREPROCESSING: "being preprocessed",
    State.AUTOMATIC: "automatic processing",
    State.OUTBOUND: "being sent out",
    State.FINISHED: "finished",
    State.FAILED: "failed",
}


def step_state(state: str) -> str:
    """Where a document is within its step, in words: `validation:first-level` reads
    "waiting for first-level validation"."""
    level = waiting_level(state)
    if level is not None:
        return f"waiting for {level.replace('-', ' ')} validation"
    return _STATES.get(state, state)


def topic_title(value: str) -> str:
    topic = KNOWN.get(value)
    return topic.title if topic else value


def fingerprint(value: object) -> str:
    """A short digest of a value's repr: the same fields give the same digest."""
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when, iso_time=iso_time, topic_title=topic_title, mask=mask, pretty_json=pretty_json, step_state=step_state
    )
    env.globals.update(
        ACCEPTED_FILES=ACCEPTED_FILES,
        STAGES=STAGES,
        STAGE_TITLES=_STEP_TITLES,
        TOPICS_BY_STAGE={s: [t for t in TOPICS if t.stage == s] for s in STAGES},
        TOPICS=TOPICS,
        OPERATIONAL_TOPICS=OPERATIONAL_TOPICS,
        NOTICES=NOTICES,
        fingerprint=fingerprint,
    )
    return env


ENV = _environment()


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={**_HEADERS, **(headers or {})})


def page(request: Request, template: str, status_code: int = 200, /, **context: Any) -> HTMLResponse:
    """Render a template with the signed-in session (if any) and the request in its context."""
    context.setdefault("session", getattr(request.state, "session", None))
    context.setdefault("notice", None)
    return html(ENV.get_template(template).render(request=request, **context), status_code)
