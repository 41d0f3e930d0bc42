"""What a running dochooks process is made of, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from dochooks.clock import Clock, SystemClock
from dochooks.db import Database, migrate, open_database
from dochooks.settings import Settings
from dochooks.webhooks.secrets import Cipher, load_cipher


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    db: Database
    cipher: Cipher
    clock: Clock

    def close(self) -> None:
        self.db.close()


def open_runtime(settings: Settings, *, clock: Clock | None = None, run_migrations: bool = True) -> Runtime:
    """Open the database (migrated to the latest schema) and the secrets key."""
    db = open_database(settings.database_url)
    if run_migrations:
        migrate(db)
    return Runtime(settings, db, load_cipher(settings.secret_key, settings.data_dir), clock or SystemClock())
