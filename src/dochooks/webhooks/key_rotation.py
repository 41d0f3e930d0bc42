"""Rotating the key that encrypts secrets at rest, without a moment where a stored secret
cannot be read.

With DOCHOOKS_SECRET_KEY (the operator's keys, comma-separated; the first encrypts, all
decrypt): give every process NEW,OLD, run the rotation, then give them NEW alone. With the
generated key file (the embedded default): stop the service and run the rotation; it
makes the new key, re-encrypts, and leaves the file with the new key only."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet

from dochooks.db import Database
from dochooks.errors import ConfigError
from dochooks.settings import Settings
from dochooks.webhooks import store
from dochooks.webhooks.secrets import KEY_FILE, Cipher, load_cipher, write_key_file


@dataclass(frozen=True)
class Rotated:
    webhooks: int
    advice: str


def rotate_key(db: Database, settings: Settings) -> Rotated:
    if settings.secret_key:
        cipher = Cipher(settings.secret_key)
        if len(cipher.keys) < 2:
            raise ConfigError(
                "DOCHOOKS_SECRET_KEY holds one key: set it to NEW,OLD on every process first "
                "(make a key with `dochooks key generate`), then rotate"
            )
        with db.transaction() as conn:
            count = store.reencrypt_all(conn, cipher)
        return Rotated(count, "now set DOCHOOKS_SECRET_KEY to the first key alone on every process")
    if not db.dialect.owned_by_one_process:  # the key file is on this machine, not beside every process
        raise ConfigError(
            "with PostgreSQL, give every process the same DOCHOOKS_SECRET_KEY (the generated key file "
            "belongs to one machine's embedded SQLite), then rotate as its help says"
        )
    path = settings.data_dir / KEY_FILE
    old = load_cipher(None, settings.data_dir)
    new = Fernet.generate_key().decode()
    # New and old in the file first: whenever this stops, every stored secret still decrypts.
    write_key_file(path, [new, *old.keys])
    with db.transaction() as conn:
        count = store.reencrypt_all(conn, Cipher(",".join([new, *old.keys])))
    write_key_file(path, [new])
    return Rotated(count, f"{path} now holds the new key alone")
