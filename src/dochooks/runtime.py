"""What a running dochooks process is made of, built once from the settings."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from dochooks.clock import Clock, SystemClock
from dochooks.db import Database, migrate, open_database
from dochooks.delivery.egress import Egress
from dochooks.documents.file_store import FileStore, open_file_store
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
    egress: Egress  # how deliveries connect: vetted addresses, source address, proxy, CAs
    egress_cidrs: tuple[IPNetwork, ...]  # where deliveries come from, for receivers' allowlists

    @functools.cached_property
    def files(self) -> FileStore:
        """Where document files are kept (`DOCHOOKS_FILE_STORE`), made once per runtime."""
        return open_file_store(self.settings, self.db)

    def close(self) -> None:
        self.db.close()

    def tuned(self, **changes: Any) -> Runtime:
        """The same database, cipher and clock under changed settings (tests and benchmarks)."""
        settings = dataclasses.replace(self.settings, **changes)
        egress = Egress.from_settings(settings)
        return dataclasses.replace(self, settings=settings, policy=egress.policy, egress=egress)


def open_runtime(settings: Settings, *, clock: Clock | None = None, run_migrations: bool = True) -> Runtime:
    """Check the settings, make the data directory private (0700), open the database
    (migrated to the latest schema) and the secrets key."""
    egress = Egress.from_settings(settings)  # a bad setting stops the start here
    egress_cidrs = parse_cidrs(settings.egress_cidrs, "DOCHOOKS_EGRESS_CIDRS")
    private_dir(settings.data_dir)  # documents and the generated key: for the service's user only
    db = open_database(settings.database_url)
    open_file_store(settings, db)  # a bad choice stops the start here
    if run_migrations:
        migrate(db)
    cipher = load_cipher(settings.secret_key, settings.data_dir)
    return Runtime(settings, db, cipher, clock or SystemClock(), egress.policy, egress, egress_cidrs)
