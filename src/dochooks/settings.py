"""Every setting in one object; each has a command-line flag and a DOCHOOKS_* environment twin."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """A setting; a `secret` one is left out of the settings' repr, so no log line shows it."""
    return field(default=default, metadata={"help": help}, repr=not secret)


@dataclass(frozen=True)
class Settings:
    database_url: str = _setting("sqlite:///./dochooks.db", "sqlite:///PATH or postgresql://...")
    data_dir: Path = _setting(Path("./dochooks-data"), "Where the service keeps its files and generated key.")
    file_store: str | None = _setting(
        None,
        "Where document files are kept: local (the data dir, this host only), database (every process of the "
        "database reads them) or s3 (a bucket every process reaches); unset: local on SQLite, database on PostgreSQL.",
    )
    s3_bucket: str | None = _setting(None, "The bucket of the s3 file store (credentials: the usual AWS_* settings).")
    s3_prefix: str = _setting("dochooks/", "What the s3 file store's object keys start with.")
    s3_endpoint_url: str | None = _setting(
        None, "https://HOST of an S3-compatible service for the s3 file store (unset: AWS S3)."
    )
    secret_key: str | None = _setting(
        None,
        "Key that encrypts secrets at rest (Fernet, urlsafe base64); generated into the data dir if unset.",
        secret=True,
    )
    host: str = _setting("127.0.0.1", "Address the HTTP API listens on.")
    port: int = _setting(8000, "Port the HTTP API listens on.")
    delivery_timeout: float = _setting(15.0, "Seconds a delivery may take before it counts as failed.")
    retry_time_scale: float = _setting(1.0, "Multiplies every retry delay (tests and demos only).")
    allow_private_targets: bool = _setting(False, "Allow loopback and private webhook URLs (development only).")
    allowed_target_cidrs: str | None = _setting(
        None, "Comma-separated private CIDRs webhooks may reach on purpose (e.g. 10.20.0.0/16)."
    )
    egress_source_address: str | None = _setting(None, "Local address every delivery connects from.")
    egress_proxy: str | None = _setting(
        None, "http://HOST:PORT of a proxy every delivery goes through (https by CONNECT), for a fixed egress IP."
    )
    delivery_ca_file: str | None = _setting(
        None, "PEM file of CA certificates deliveries trust besides the system's (receivers with an internal CA)."
    )
    egress_cidrs: str | None = _setting(
        None, "Comma-separated CIDRs deliveries leave from, published at GET /v1/ip-ranges for receivers' allowlists."
    )
    max_in_flight: int = _setting(1000, "Delivery requests in flight at most, per dispatcher.")
    max_per_host: int = _setting(200, "Connections per receiving host at most.")
    max_per_webhook: int = _setting(
        200, "Deliveries of one webhook in flight at most, per dispatcher (less while it does not answer)."
    )
    max_per_tenant: int = _setting(500, "Deliveries of one tenant claimed and unsettled at most, per dispatcher.")
    claim_batch: int = _setting(500, "Deliveries claimed per database round trip at most.")
    sender_process: bool = _setting(
        True,
        "Send deliveries from a process of their own where more than one core is usable: the dispatcher "
        "and the HTTP client then run side by side instead of taking turns at one GIL.",
    )
    poll_interval: float = _setting(1.0, "Seconds an idle dispatcher waits before looking for due work again.")
    background_nice: int = _setting(
        10,
        "How far serve's background process (dispatcher, workflow runner) yields the CPU to its API: "
        "a nice increment, 0 (not at all) to 19.",
    )
    disable_failing_after: float = _setting(
        5 * 24 * 3600.0,
        "Seconds a webhook whose every delivery attempt fails is kept enabled (5 days), then disabled "
        "with its reason; its deliveries stay in the log, to be sent again (0: never disable).",
    )
    max_upload_bytes: int = _setting(25 * 1024 * 1024, "Largest document upload accepted, in bytes (larger: 413).")
    max_concurrent_uploads: int = _setting(
        16,
        "Uploads (API and web UI) received at once at most, per process, one tenant's half of them at most; "
        "one more gets 503 with Retry-After.",
    )
    upload_seconds: float = _setting(120.0, "Seconds an upload's body may take to arrive (after that: 408).")
    processors: str | None = _setting(None, "package.module:MAPPING of workflow processors replacing the defaults.")
    metrics_port: int = _setting(
        0,
        "Port Prometheus /metrics is served on, apart from the API (0: serve has it on the API's port, worker none).",
    )
    metrics_host: str = _setting("127.0.0.1", "Address the /metrics port listens on.")
    metrics_token: str | None = _setting(
        None, "Bearer token /metrics requires wherever it is served (none: open to whoever reaches it).", secret=True
    )
    rate_limit: float = _setting(100.0, "API requests per second per token, on average (0: no limit).")
    rate_burst: int = _setting(200, "API requests a token may make at once above its rate.")
    auth_failure_rate: float = _setting(
        0.1, "Failed authentications (wrong API token) per second per address, on average (0: no limit)."
    )
    auth_failure_burst: int = _setting(
        20, "Failed authentications an address may make at once; more get 429, even with a valid token."
    )
    delivery_retention_days: int = _setting(
        30,
        "Days settled deliveries (with their attempts) and events are kept after they settle (0: for good); "
        "pending deliveries and their events are never pruned.",
    )
    document_retention_days: int = _setting(
        0,
        "Days finished and failed documents (rows and files) are kept after their last change, for tenants "
        "whose workflow sets no age of its own (0: for good).",
    )
    prune_batch: int = _setting(500, "Rows deleted per transaction at most while pruning.")
    prune_interval: float = _setting(300.0, "Seconds between two pruning passes of serve and worker.")
    prune_pause: float = _setting(0.05, "Seconds pruning rests between two batches at least.")
    prune_share: float = _setting(
        0.25,
        "Share of the time (0.01 to 1) pruning may work: after each batch it rests long enough to keep to it, "
        "leaving the writer and the CPU to deliveries.",
    )
    recover_batch: int = _setting(
        1000, "Deliveries a bulk recovery looks at per transaction (making those it recovers due)."
    )
    recover_pause: float = _setting(
        0.05,
        "Seconds a bulk recovery rests between two batches at least (and twice as long as the batch took).",
    )
    log_level: str = _setting("info", "debug, info, warning or error.")
    log_format: str = _setting("auto", "json (JSON lines), text, or auto: text on a terminal, JSON lines otherwise.")


def env_name(name: str) -> str:
    return "DOCHOOKS_" + name.upper()


def _convert(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (Path, "Path"):
        return Path(raw)
    return raw


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from DOCHOOKS_* variables, with explicit overrides (e.g. flags) winning."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = environ.get(env_name(f.name))
        if raw not in (None, ""):
            kind = f.type.split(" | ")[0] if isinstance(f.type, str) else f.type
            values[f.name] = _convert(kind, raw)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for the command line."""
    return [(f.name, f.default, f.metadata["help"]) for f in dataclasses.fields(Settings)]


def shown(settings: Settings) -> dict[str, Any]:
    """Every setting as the start-up log line shows it: secret ones masked, and the
    password of a URL (the database's, the proxy's) too."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        if not f.repr and value is not None:
            value = "********"
        elif isinstance(value, str) and "://" in value:
            value = redact(value)
        values[f.name] = str(value) if isinstance(value, Path) else value
    return values


def redact(url: str) -> str:
    """A URL with its password masked, in the user part or as a `password=` parameter (which
    PostgreSQL's URLs accept), for log lines and messages."""
    masked = re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:********@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1********", masked)
