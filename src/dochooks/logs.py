"""What every process writes: one line per event, as JSON lines for a log collector or as
readable text on a terminal, each with its fields (`logger.info("...", extra=fields(...))`).
Nothing secret is given to a log line: callers pass ids, never URLs (`scrubbed` takes them
out of foreign text), header values or keys."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import orjson

from dochooks.clock import iso

FORMATS = ("auto", "text", "json")
_FIELDS = "dochooks_fields"  # the LogRecord attribute that carries a line's fields


# A URL inside a message (an HTTP client's exception text names the request's URL, whose
# path or query may hold a receiver's secret): log lines show <url> instead.
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")


def scrubbed(text: str | None) -> str | None:
    """`text` with every URL in it replaced by <url>, for a log line."""
    return None if text is None else _URL.sub("<url>", text)


def fields(**values: Any) -> dict[str, Any]:
    """The `extra=` of a log call: named values that the line carries (None left out)."""
    return {_FIELDS: {k: v for k, v in values.items() if v is not None}}


def _fields_of(record: logging.LogRecord) -> dict[str, Any]:
    found = getattr(record, _FIELDS, None)
    return found if isinstance(found, dict) else {}


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, milliseconds), level, logger, message, its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso(int(record.created * 1000)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields_of(record),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class ReadableText(logging.Formatter):
    """Time, level, logger and message, then the fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields_of(record).items())
        if not extra:
            return text
        first, newline, rest = text.partition("\n")  # a traceback stays below the line
        return f"{first} {extra}{newline}{rest}"


def configure(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send every logger's lines (uvicorn's too) to `stream` (stderr) at `level`, in
    `log_format`: json, text, or auto (text on a terminal, JSON lines otherwise)."""
    out = stream or sys.stderr
    use_json = log_format == "json" or (log_format == "auto" and not out.isatty())
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines() if use_json else ReadableText())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers would write its lines in its format; ours write them all.
        own = logging.getLogger(name)
        own.handlers[:] = []
        own.propagate = True
        own.setLevel(logging.NOTSET)  # the root's level decides
