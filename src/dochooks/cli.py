"""The `dochooks` command: serve, worker, migrate, prune, key, listen, demo; tenant and token are in
cli_tenants.py, recover in cli_recovery.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from dochooks import __version__, logs
from dochooks.cli_recovery import recover
from dochooks.cli_support import Group, install_uvloop, settings_from, settings_options
from dochooks.cli_tenants import tenant, token
from dochooks.cli_trigger import trigger
from dochooks.db import migrate as run_migrations
from dochooks.db import open_database
from dochooks.settings import Settings, describe, shown

if TYPE_CHECKING:
    from dochooks.runtime import Runtime

logger = logging.getLogger("dochooks")  # what serve and worker say as they start


def _log_settings(settings: Settings) -> None:
    logger.info("settings", extra=logs.fields(**shown(settings)))


ALL = tuple(name for name, _, _ in describe())
# The worker serves no API (its only listener is /metrics, at DOCHOOKS_METRICS_HOST) and
# runs its background work in its own process.
SERVE_ONLY = ("host", "port", "rate_limit", "rate_burst", "auth_failure_rate", "auth_failure_burst", "background_nice")
WORKER = tuple(n for n in ALL if n not in SERVE_ONLY)


@contextlib.contextmanager
def _own_metrics_port(rt: Runtime) -> Iterator[None]:
    """/metrics on a port of its own for the block, when DOCHOOKS_METRICS_PORT asks for one."""
    from dochooks.metrics import registry_for
    from dochooks.metrics_http import start_metrics_listener

    settings = rt.settings
    if not settings.metrics_port:
        yield
        return
    registry = registry_for(rt.db, rt.clock)
    listener = start_metrics_listener(registry, settings.metrics_host, settings.metrics_port, settings.metrics_token)
    try:
        yield
    finally:
        listener.close()


@click.group(cls=Group)
@click.version_option(__version__, prog_name="dochooks")
def main() -> None:
    """dochooks: signed, retried, logged webhooks for a document workflow."""


main.add_command(tenant)
main.add_command(token)
main.add_command(recover)
main.add_command(trigger)


@main.command()
@settings_options(*ALL)
def serve(**flags: Any) -> None:
    """Run the API, and the dispatcher and workflow runner in a process of their own beside
    it (migrates first)."""
    from dochooks.background_process import check_nice

    settings = settings_from(flags)
    check_nice(settings)
    with _metrics_shared_by_processes():
        _serve(settings)


@contextlib.contextmanager
def _metrics_shared_by_processes() -> Iterator[None]:
    """The dispatcher counts attempts in the background process and /metrics is answered by
    the API's: prometheus_client's multiprocess mode sums both processes' counts, kept in a
    directory it must know before it is first imported."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # the operator's own
        yield
        return
    with tempfile.TemporaryDirectory(prefix="dochooks-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory  # the background process inherits it
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _serve(settings: Settings) -> None:
    import uvicorn

    from dochooks.app import create_app
    from dochooks.metrics_http import http_url, where_metrics_are
    from dochooks.runtime import open_runtime

    _log_settings(settings)
    rt = open_runtime(settings)
    install_uvloop()
    try:
        with _own_metrics_port(rt):
            logger.info(
                f"dochooks {__version__} on {http_url(settings.host, settings.port)} "
                f"(web UI at /, API docs at /docs); {where_metrics_are(settings, api=True)}"
            )
            uvicorn.run(
                create_app(rt, own_process=True),
                host=settings.host,
                port=settings.port,
                log_config=None,  # logs.configure has set every logger up
                loop="none",  # uvloop is already installed, when it is available
                access_log=False,  # the app logs each request itself, with its route and tenant
            )
    finally:
        rt.close()


@main.command()
@settings_options(*WORKER)
def worker(**flags: Any) -> None:
    """Run the dispatcher and workflow runner without the API (migrates first); stops
    cleanly on SIGINT or SIGTERM."""
    from dochooks.background import run_background, sole_dispatcher
    from dochooks.metrics_http import where_metrics_are
    from dochooks.runtime import open_runtime

    settings = settings_from(flags)
    _log_settings(settings)
    rt = open_runtime(settings)

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        with sole_dispatcher(rt):
            await run_background(rt, stopping)

    install_uvloop()
    try:
        with _own_metrics_port(rt):
            logger.info(f"dochooks {__version__} worker; {where_metrics_are(rt.settings, api=False)}")
            asyncio.run(run())
    finally:
        rt.close()


@main.command()
@settings_options("database_url", "log_level", "log_format")
def migrate(**flags: Any) -> None:
    """Bring the database schema up to date."""
    db = open_database(settings_from(flags).database_url)
    try:
        applied = run_migrations(db)
    finally:
        db.close()
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    click.echo("schema is up to date")


@main.command()
@click.option("--dry-run", is_flag=True, help="Count what would be deleted, and delete nothing.")
@settings_options(
    "database_url",
    "data_dir",
    "file_store",
    "delivery_retention_days",
    "document_retention_days",
    "prune_batch",
    "prune_pause",
    "prune_share",
    "log_level",
    "log_format",
)
def prune(dry_run: bool, **flags: Any) -> None:
    """Delete, in small batches, what the retention settings no longer keep, in one pass:
    settled deliveries with their attempts, their events, finished and failed documents
    with their files (serve and worker do this by themselves every --prune-interval)."""
    from dochooks.clock import SystemClock
    from dochooks.retention import prune as prune_once
    from dochooks.retention import would_prune

    settings = settings_from(flags)
    db = open_database(settings.database_url)
    try:
        run_migrations(db)
        if dry_run:
            click.echo(f"would prune {would_prune(db, settings, SystemClock()).summary()}")
        else:
            click.echo(f"pruned {prune_once(db, settings, SystemClock()).summary()}")
    finally:
        db.close()


@main.group(cls=Group)
def key() -> None:
    """Manage the key that encrypts secrets at rest."""


@key.command("generate")
def key_generate() -> None:
    """Print a new key, for DOCHOOKS_SECRET_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@key.command("rotate")
@settings_options("database_url", "data_dir", "secret_key", "log_level", "log_format")
def key_rotate(**flags: Any) -> None:
    """Encrypt every stored secret again with a new key.

    \b
    With DOCHOOKS_SECRET_KEY: set it to NEW,OLD on every process, run this, then set NEW alone.
    With the generated key file: stop the service, run this (it makes the new key), start it."""
    from dochooks.background import sole_dispatcher
    from dochooks.runtime import open_runtime
    from dochooks.webhooks.key_rotation import rotate_key

    rt = open_runtime(settings_from(flags))
    try:
        with sole_dispatcher(rt):  # on SQLite, refuses while the service runs
            rotated = rotate_key(rt.db, rt.settings)
    finally:
        rt.close()
    click.echo(f"re-encrypted the secrets of {rotated.webhooks} webhooks; {rotated.advice}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    envvar="DOCHOOKS_LISTEN_SECRET",
    help="A webhook's whsec_ secret, to verify signatures; repeatable: a delivery verifies when any matches. "
    "With --pull, what forwarded events are signed with. [env DOCHOOKS_LISTEN_SECRET, space-separated]",
)
@click.option(
    "--status", default=200, show_default=True, type=int, help="Status code to answer with, when not forwarding."
)
@click.option(
    "--forward-to",
    metavar="URL",
    help="Relay each delivery, headers and body as received, to a local app, and answer with the app's answer.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per delivery instead of its text.")
@click.option(
    "--pull",
    is_flag=True,
    help="Listen to no port: catch up from the tenant's event feed (GET /v1/events) and keep polling it.",
)
@click.option("--since", metavar="CURSOR", help="With --pull: go on after this cursor (one it printed to resume from).")
@click.option(
    "--api-url",
    envvar="DOCHOOKS_API_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="With --pull: the running service's address. [env: DOCHOOKS_API_URL]",
)
@click.option("--token", envvar="DOCHOOKS_TOKEN", help="With --pull: the tenant's API token. [env: DOCHOOKS_TOKEN]")
@click.option(
    "--interval",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.1, max=3600),
    help="With --pull: seconds between polls once caught up (doubled per error in a row, up to 60).",
)
def listen(
    host: str,
    port: int,
    secrets: tuple[str, ...],
    status: int,
    forward_to: str | None,
    as_json: bool,
    pull: bool,
    since: str | None,
    api_url: str,
    token: str | None,
    interval: float,
) -> None:
    """A local receiver that prints every delivery it gets, for trying webhooks out; with
    --forward-to, a relay to your app, whose answers dochooks records and retries on.

    \b
    With --pull, events come from the event feed instead, oldest first, and each is printed
    (--json adds event_id and cursor) or, with --forward-to, POSTed to your app until it
    answers 2xx, in order, as a delivery would be: the body is the event's payload with
    request_id set to the event's id, the headers webhook-id (the event's id),
    webhook-timestamp, webhook-signature (when --secret is given, signed with it), and
    dochooks-request-ids (the webhook-ids its deliveries had: drop the event if you handled
    one). The cursor to resume from (--since) is printed after each page and on Ctrl-C or
    SIGTERM; a cursor older than the feed keeps exits 1 saying where to resume from."""
    from urllib.parse import urlsplit

    if forward_to and (urlsplit(forward_to).scheme not in ("http", "https") or not urlsplit(forward_to).hostname):
        raise click.BadParameter(f"{forward_to!r} is not an http(s) URL", param_hint="--forward-to")
    if pull:
        from dochooks.cli_trigger import Api
        from dochooks.pull import run_puller

        if not token:
            raise click.BadParameter("--pull needs the tenant's API token (or DOCHOOKS_TOKEN)", param_hint="--token")
        options = {"since": since, "interval": interval, "secrets": secrets, "forward_to": forward_to}
        run_puller(Api(api_url, token), as_json=as_json, **options)
        return
    if since:
        raise click.BadParameter("only with --pull", param_hint="--since")
    from dochooks.receiver import run_receiver

    run_receiver(host=host, port=port, secrets=secrets, status=status, forward_to=forward_to, as_json=as_json)


@main.command()
def demo() -> None:
    """A throwaway service on temporary files, a listener, a tenant, a webhook on every
    topic and a sample PDF: its deliveries arrive signed and verified. Ctrl-C removes it all."""
    from dochooks.demo import run_demo

    run_demo()
