"""What a webhook is made of, and the rules its attributes must follow."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from dochooks.errors import InvalidInput
from dochooks.topics import is_topic
from dochooks.webhooks.url_safety import AddressPolicy

MAX_HEADERS = 50
MAX_HEADER_VALUE = 8192
MAX_NAME = 200
MAX_URL = 2048
# Headers dochooks sets itself, and those that steer the connection or the message's
# framing rather than carry data (hop-by-hop, transfer and content codings, Expect,
# Upgrade, proxy credentials): a custom header must not forge or break them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "te",
        "trailer",
        "connection",
        "keep-alive",
        "upgrade",
        "expect",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
# RFC 9110 field-value: visible ASCII, space, tab and obs-text; no control characters.
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})  # control, format and blank characters
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}")


class HealthState(StrEnum):
    HEALTHY = "healthy"
    FAILING = "failing"  # every attempt since failing_since has failed
    DISABLED = "disabled"  # nothing is sent; disabled_reason says why if dochooks did it


@dataclass(frozen=True)
class Health:
    """What the API and the UI show of a webhook's health."""

    state: HealthState = HealthState.HEALTHY
    failing_since: int | None = None
    consecutive_failures: int = 0
    last_success_at: int | None = None
    last_error: str | None = None
    disabled_at: int | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True)
class Webhook:
    id: int
    tenant_id: int
    name: str
    url: str
    headers: dict[str, str]
    topics: tuple[str, ...]
    enabled: bool
    secret: str
    created_at: int
    updated_at: int
    disabled_reason: str | None = None  # set when dochooks disabled it (the endpoint answered 410 Gone)
    previous_secret: str | None = None  # still signs deliveries, next to `secret`, until it expires
    previous_secret_expires_at: int | None = None
    health: Health = field(default_factory=Health)
    ordered: bool = False  # a document's deliveries go one at a time, in workflow order


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters", attribute="name")
    if "\x00" in name:  # PostgreSQL text cannot hold it
        raise InvalidInput("name must not contain NUL characters", attribute="name")
    return name


def check_url_shape(url: str) -> str:
    """The URL without surrounding blanks, if no control, format or blank character is left
    inside it: URL parsers quietly drop some of them (tabs, line breaks), so what is stored
    and shown would not be what is called."""
    if len(url) > MAX_URL:
        raise InvalidInput(f"url must be at most {MAX_URL} characters", attribute="url")
    url = url.strip()
    for char in url:
        if unicodedata.category(char) in _INVISIBLE or char.isspace():
            raise InvalidInput(
                f"url must not contain control characters or spaces (found U+{ord(char):04X}); percent-encode them",
                attribute="url",
            )
    return url


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> str:
    """The scheme, host and port a URL connects to: where its deliveries (and their
    headers) go. The URL itself if it is malformed."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or _DEFAULT_PORTS.get(parts.scheme)}"
    except ValueError:
        return url


def check_topics(topics: list[str]) -> tuple[str, ...]:
    unknown = [t for t in topics if not is_topic(t)]
    if unknown:
        raise InvalidInput(f"unknown topics: {', '.join(unknown)}; see GET /v1/topics", attribute="topics")
    if not topics:
        raise InvalidInput("choose at least one topic", attribute="topics")
    return tuple(dict.fromkeys(topics))


def header_key(name: str) -> str:
    """A header name as receivers may compare it: case-insensitively, and with `_` read as
    `-` (CGI and WSGI servers turn both into HTTP_WEBHOOK_SIGNATURE)."""
    return name.lower().replace("_", "-")


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} custom headers", attribute="headers")
    seen: set[str] = set()
    for name, value in headers.items():
        at = f"headers/{name}"
        if not _TOKEN.fullmatch(name):
            raise InvalidInput(f"{name!r} is not a valid header name", attribute=at)
        if header_key(name) in RESERVED_HEADERS:
            raise InvalidInput(
                f"{name} is set by dochooks or steers the connection, and cannot be a custom header", attribute=at
            )
        if header_key(name) in seen:
            raise InvalidInput(f"header {name} is given twice", attribute=at)
        seen.add(header_key(name))
        if len(value) > MAX_HEADER_VALUE or not _FIELD_VALUE.fullmatch(value):
            raise InvalidInput(
                f"header {name} must be at most {MAX_HEADER_VALUE} characters of visible text, spaces and tabs",
                attribute=at,
            )
    return dict(headers)


def validated(attributes: Mapping[str, object], *, policy: AddressPolicy) -> dict[str, object]:
    """Check the given attributes (all on create, some on change) and return them normalized.
    The URL is resolved and vetted here, before any transaction starts."""
    checks = {
        "name": check_name,
        "url": lambda url: _vetted_url(check_url_shape(url), policy),
        "topics": check_topics,
        "headers": check_headers,
        "enabled": bool,
        "ordered": bool,
    }
    return {key: checks[key](value) for key, value in attributes.items() if value is not None}  # type: ignore[operator]


def _vetted_url(url: str, policy: AddressPolicy) -> str:
    policy.check_url(url)
    return url
