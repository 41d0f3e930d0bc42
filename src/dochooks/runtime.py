"""What a running dochooks process is made of, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from dochooks.clock import Clock, SystemClock
from dochooks.db import Database, migrate, open_database
from dochooks.delivery.egress import Egress
from dochooks.private_files import private_dir
from dochooks.settings import Settings
from dochooks.webhooks.secrets import Cipher, load_cipher
from dochooks.webhooks.url_safety import AddressPolicy, IPNetwork, parse_cidrs


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    cipher: Cipher
    clock: Clock
    policy: AddressPolicy  # where webhook URLs may point
    egress_cidrs: tuple[IPNetwork, ...]  # where deliveries come from, for receivers' allowlists

    def close(self) -> None:
        self.db.close()


def open_runtime(settings: Settings, *, clock: Clock | None = None, run_migrations: bool = True) -> Runtime:
    """Check the settings, make the data directory private (0700), open the database
    (migrated to the latest schema) and the secrets key."""
    policy = AddressPolicy.from_settings(settings)
    egress_cidrs = parse_cidrs(settings.egress_cidrs, "DOCHOOKS_EGRESS_CIDRS")
    Egress.from_settings(settings)  # the dispatcher builds its own; a bad one must stop the start now
    private_dir(settings.data_dir)  # documents and the generated key: for the service's user only
    db = open_database(settings.database_url)
    if run_migrations:
        migrate(db)
    cipher = load_cipher(settings.secret_key, settings.data_dir)
    return Runtime(settings, db, cipher, clock or SystemClock(), policy, egress_cidrs)
