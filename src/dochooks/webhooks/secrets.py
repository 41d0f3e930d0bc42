"""Secrets at rest and on display: Fernet encryption, signing secrets, masking."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from dochooks.errors import StorageError

KEY_FILE = "secret.key"
SIGNING_PREFIX = "whsec_"
_MASK = "********"


class Cipher:
    """Encrypts and decrypts short secrets (header values, signing secrets) for storage."""

    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise StorageError("DOCHOOKS_SECRET_KEY is not a valid Fernet key (32 url-safe base64 bytes)") from exc

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise StorageError("a stored secret does not decrypt with the configured key") from exc


def load_cipher(secret_key: str | None, data_dir: Path) -> Cipher:
    """The configured key, else the one kept in the data dir, generated (mode 0600) on first use."""
    if secret_key:
        return Cipher(secret_key)
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
    return Cipher(path.read_bytes().strip())


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return SIGNING_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signing_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SIGNING_PREFIX))


def mask(value: str) -> str:
    """What an API response shows of a secret: its last four characters when it is long
    enough for that to give nothing away, else nothing."""
    return _MASK + value[-4:] if len(value) >= 20 else _MASK


def is_masked_form_of(candidate: str, value: str) -> bool:
    return candidate == mask(value)
