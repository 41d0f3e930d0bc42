"""Secrets at rest and on display: Fernet encryption, signing secrets, masking."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from dochooks.errors import StorageError
from dochooks.private_files import private_dir

KEY_FILE = "secret.key"
SIGNING_PREFIX = "whsec_"
_MASK = "********"


class Cipher:
    """Encrypts and decrypts short secrets (header values, signing secrets) for storage.
    Given several keys (comma- or line-separated), it encrypts with the first and decrypts
    with any: the state a key rotation passes through."""

    def __init__(self, keys: str | bytes) -> None:
        text = keys.decode() if isinstance(keys, bytes) else keys
        try:
            self.keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
            self._fernet = MultiFernet([Fernet(k) for k in self.keys])
        except (ValueError, TypeError) as exc:
            raise StorageError("the secret key is not a list of valid Fernet keys (32 url-safe base64 bytes)") from exc

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise StorageError("a stored secret does not decrypt with the configured key") from exc

    def reencrypt(self, token: str) -> str:
        """The same secret encrypted with the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise StorageError("a stored secret does not decrypt with the configured key") from exc


def load_cipher(secret_key: str | None, data_dir: Path) -> Cipher:
    """The configured keys, else those kept in the data dir, generated (mode 0600) on first use."""
    if secret_key:
        return Cipher(secret_key)
    path = data_dir / KEY_FILE
    if not path.exists():
        private_dir(data_dir)
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            write_key_file(path, [Fernet.generate_key().decode()], exclusive=True)
    return Cipher(path.read_bytes())


def write_key_file(path: Path, keys: list[str], *, exclusive: bool = False) -> None:
    """Write the keys, one per line, readable by the owner only. Written beside the file
    and renamed over it, so a crash leaves the old file or the new one, never half of one."""
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    else:
        staging = path.with_name(path.name + ".new")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(keys) + "\n")
        out.flush()
        os.fsync(out.fileno())
    if not exclusive:
        os.replace(staging, path)


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


def looks_masked(value: str) -> bool:
    """Whether a value is what a response showed of a secret rather than a secret."""
    return value.startswith(_MASK)
