from __future__ import annotations

import stat
from pathlib import Path

import pytest

from dochooks.errors import StorageError
from dochooks.webhooks.secrets import Cipher, load_cipher, mask


def test_a_generated_key_is_kept_private_in_the_data_dir_and_reused(tmp_path: Path) -> None:
    first = load_cipher(None, tmp_path / "data")
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.encrypt("Bearer xyz")
    assert "xyz" not in token
    assert load_cipher(None, tmp_path / "data").decrypt(token) == "Bearer xyz"


def test_a_wrong_key_is_a_clear_error() -> None:
    with pytest.raises(StorageError, match="Fernet"):
        Cipher("not-a-key")


def test_masking_shows_at_most_the_last_four_characters_of_long_values() -> None:
    assert mask("Bearer abcdefghijklmnopqrstuvwxyz").endswith("wxyz")
    assert "abc" not in mask("Bearer abcdefghijklmnopqrstuvwxyz")
    assert "smoke" not in mask("Bearer smoke") and "oke" not in mask("Bearer smoke")


def test_with_two_keys_the_first_encrypts_and_both_decrypt() -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = Cipher(old).encrypt("Bearer abc")
    both = Cipher(f"{new},{old}")
    assert both.decrypt(stored) == "Bearer abc"
    again = both.reencrypt(stored)
    assert Cipher(new).decrypt(again) == "Bearer abc"
    with pytest.raises(StorageError):
        Cipher(old).decrypt(again)
    assert Cipher(f"{new}\n{old}\n").keys == [new, old]  # the key file's form: one per line
