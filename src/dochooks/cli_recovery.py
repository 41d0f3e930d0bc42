"""`dochooks recover`: a bulk recovery from the command line, on the database the service
uses, with a progress bar. It starts the job (or joins the one under way) and works it
itself, batch by batch; a running serve or worker may advance the same job meanwhile."""

from __future__ import annotations

import sys
from typing import Any

import click

from dochooks.cli_support import settings_from, settings_options
from dochooks.clock import SystemClock, iso, parse_iso
from dochooks.db import migrate, open_database
from dochooks.delivery import recovery
from dochooks.delivery.recoverer import run_to_end


def _since(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_iso(value)
    except (ValueError, OverflowError) as exc:
        raise click.BadParameter("an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from exc


@click.command()
@click.option("--webhook", "webhook_id", type=click.IntRange(1), required=True, help="The webhook's id.")
@click.option("--since", type=str, required=True, callback=_since, help="ISO 8601 time: deliveries last changed since.")
@click.option(
    "--status",
    "which",
    type=click.Choice([str(w) for w in recovery.Which]),
    default=str(recovery.Which.FAILED),
    show_default=True,
    help="Which deliveries to make due again, by their status.",
)
@settings_options("database_url", "recover_batch", "recover_pause", "log_level", "log_format")
def recover(webhook_id: int, since: int, which: str, **flags: Any) -> None:
    """Make a webhook's deliveries (failed ones by default) last changed since a time due
    again, in batches, showing progress; joins the webhook's recovery under way, if any.
    The dispatcher of serve or worker then sends them, paced by its caps."""
    settings = settings_from(flags)
    clock = SystemClock()
    db = open_database(settings.database_url)
    try:
        migrate(db)
        with db.read() as conn:
            tenant_id = recovery.owner(conn, webhook_id)
        job, new = recovery.start(
            db,
            tenant_id=tenant_id,
            webhook_id=webhook_id,
            since_ms=since,
            which=recovery.Which(which),
            now_ms=clock.now_ms(),
        )
        if not new:
            click.echo(f"joining recovery {job.id} under way ({job.which} deliveries since {iso(job.since)})", err=True)
        with click.progressbar(length=job.total, label=f"recovery {job.id}", file=sys.stderr) as bar:
            shown = [job.recovered]
            bar.update(job.recovered)

            def advanced(now: recovery.Recovery) -> None:
                bar.length = max(bar.length or 0, now.total)
                bar.update(now.recovered - shown[0])
                shown[0] = now.recovered

            run_to_end(db, job.id, settings, clock, on_batch=advanced)
        with db.read() as conn:
            done = recovery.get(conn, tenant_id=tenant_id, webhook_id=webhook_id, recovery_id=job.id)
    finally:
        db.close()
    click.echo(
        f"recovery {done.id} {done.status}: {done.recovered} of webhook {webhook_id}'s {done.which} deliveries "
        f"since {iso(done.since)} due again"
    )
