"""The `dochooks` command: serve, worker, migrate, tenant create, listen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dochooks import __version__, logs
from dochooks.db import migrate as run_migrations
from dochooks.db import open_database
from dochooks.errors import DochooksError
from dochooks.settings import Settings, describe, env_name, from_env, shown
from dochooks.tenants import create_tenant

if TYPE_CHECKING:
    from dochooks.runtime import Runtime

logger = logging.getLogger("dochooks")  # what serve and worker say as they start
_TYPES: dict[str, Any] = {"int": int, "float": float, "Path": click.Path(file_okay=False, path_type=Path)}


def settings_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One flag per named setting, each with its DOCHOOKS_* twin named in --help."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        fields = {f.name: f for f in Settings.__dataclass_fields__.values()}
        for name, default, text in reversed(describe()):
            if name not in names:
                continue
            flag = "--" + name.replace("_", "-")
            text = f"{text} [env {env_name(name)}; default {default}]"
            kind = str(fields[name].type).split(" | ")[0]
            if kind == "bool":
                command = click.option(flag, name, is_flag=True, flag_value=True, default=None, help=text)(command)
            else:
                command = click.option(flag, name, type=_TYPES.get(kind, str), default=None, help=text)(command)
        return command

    return decorate


def _settings(flags: dict[str, Any]) -> Settings:
    settings = from_env(**flags)
    if settings.log_format not in logs.FORMATS:
        raise click.BadParameter(f"one of {', '.join(logs.FORMATS)}", param_hint="--log-format")
    logs.configure(settings.log_level, settings.log_format)
    return settings


def _log_settings(settings: Settings) -> None:
    logger.info("settings", extra=logs.fields(**shown(settings)))


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # not on this platform: the standard loop works, only slower
        return
    uvloop.install()


ALL = tuple(name for name, _, _ in describe())
# The worker serves no API: its only listener is /metrics, at DOCHOOKS_METRICS_HOST.
WORKER = tuple(
    n for n in ALL if n not in ("host", "port", "rate_limit", "rate_burst", "auth_failure_rate", "auth_failure_burst")
)


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


class _Group(click.Group):
    """Turns dochooks' own errors into a one-line message and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DochooksError as exc:
            raise click.ClickException(exc.detail) from exc


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="dochooks")
def main() -> None:
    """dochooks: signed, retried, logged webhooks for a document workflow."""


@main.command()
@settings_options(*ALL)
def serve(**flags: Any) -> None:
    """Run the API, the dispatcher and the workflow runner in one process (migrates first)."""
    import uvicorn

    from dochooks.app import create_app
    from dochooks.metrics_http import http_url, where_metrics_are
    from dochooks.runtime import open_runtime

    settings = _settings(flags)
    _log_settings(settings)
    rt = open_runtime(settings)
    _install_uvloop()
    try:
        with _own_metrics_port(rt):
            logger.info(
                f"dochooks {__version__} on {http_url(settings.host, settings.port)} "
                f"(web UI at /, API docs at /docs); {where_metrics_are(settings, api=True)}"
            )
            uvicorn.run(
                create_app(rt),
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

    settings = _settings(flags)
    _log_settings(settings)
    rt = open_runtime(settings)

    async def run() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        with sole_dispatcher(rt):
            await run_background(rt, stopping)

    _install_uvloop()
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
    db = open_database(_settings(flags).database_url)
    try:
        applied = run_migrations(db)
    finally:
        db.close()
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    click.echo("schema is up to date")


@main.group(cls=_Group)
def tenant() -> None:
    """Manage tenants."""


@tenant.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print exactly {"tenant_id": ..., "token": ...}.')
@settings_options("database_url", "log_level", "log_format")
def tenant_create(name: str, as_json: bool, **flags: Any) -> None:
    """Create a tenant and print its id and a new API token (shown only this once)."""
    db = open_database(_settings(flags).database_url)
    try:
        run_migrations(db)
        with db.transaction() as conn:
            created = create_tenant(conn, name)
    finally:
        db.close()
    if as_json:
        click.echo(json.dumps({"tenant_id": created.tenant_id, "token": created.token}))
    else:
        click.echo(
            f"tenant id: {created.tenant_id}\ntoken:     {created.token}\nKeep the token: it is not shown again."
        )


@main.group(cls=_Group)
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

    rt = open_runtime(_settings(flags))
    try:
        with sole_dispatcher(rt):  # on SQLite, refuses while the service runs
            rotated = rotate_key(rt.db, rt.settings)
    finally:
        rt.close()
    click.echo(f"re-encrypted the secrets of {rotated.webhooks} webhooks; {rotated.advice}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=9000, show_default=True, type=int, help="Port to listen on.")
@click.option("--secret", envvar="DOCHOOKS_LISTEN_SECRET", help="A webhook's whsec_ secret, to verify signatures.")
@click.option("--status", default=200, show_default=True, type=int, help="Status code to answer with.")
def listen(host: str, port: int, secret: str | None, status: int) -> None:
    """A local receiver that prints every delivery it gets, for trying webhooks out."""
    from dochooks.receiver import run_receiver

    run_receiver(host=host, port=port, secret=secret, status=status)
