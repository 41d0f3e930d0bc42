"""Uploaded files on disk, under the data directory: written whole before the database
learns of them, so a document never points at half a file."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the data dir
    size_bytes: int
    sha256: str


def store_files(data_dir: Path, tenant_id: int, blobs: list[bytes]) -> list[StoredFile]:
    folder = data_dir / "documents" / str(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    stored = []
    for blob in blobs:
        relative = f"documents/{tenant_id}/{uuid.uuid4().hex}"
        temp = data_dir / (relative + ".part")
        with open(temp, "wb") as out:
            out.write(blob)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, data_dir / relative)
        stored.append(StoredFile(relative, len(blob), hashlib.sha256(blob).hexdigest()))
    return stored


def read_files(data_dir: Path, paths: list[str]) -> list[bytes]:
    return [(data_dir / p).read_bytes() for p in paths]


def remove_files(data_dir: Path, paths: list[str]) -> None:
    for p in paths:
        (data_dir / p).unlink(missing_ok=True)
