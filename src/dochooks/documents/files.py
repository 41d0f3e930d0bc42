"""Uploaded files on disk, under the data directory: each written in chunks to a private
`.part` file (size and SHA-256 counted on the way, then fsync where it stays on disk) and,
for the local file store, renamed into place before the database learns of it, so a
document never points at half a file."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from dochooks.errors import TooLarge
from dochooks.private_files import FILE_MODE, private_dir

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative to the data dir
    size_bytes: int
    sha256: str


def mebibytes(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def _private(path: str, flags: int) -> int:
    """Open a new file readable by the service's user alone."""
    return os.open(path, flags, FILE_MODE)


class StagedFile:
    """One file of an upload while it is written; `Staging.store` moves it into place."""

    def __init__(self, staging: Staging, name: str) -> None:
        self.relative = f"documents/{staging.tenant_id}/{name}"  # where it is stored, relative to the data dir
        self.part = staging.data_dir / "documents" / f"{name}.part"
        self.size_bytes = 0
        self._staging = staging
        self._digest = hashlib.sha256()
        self._out: BinaryIO | None = open(self.part, "xb", opener=_private)  # noqa: SIM115 (closed by finish or discard)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def write(self, chunk: bytes) -> None:
        """Append a chunk; TooLarge once the upload's files together pass its limit, before the chunk is written."""
        assert self._out is not None, "the file is finished"
        self._staging.count(len(chunk))
        self._digest.update(chunk)
        self._out.write(chunk)
        self.size_bytes += len(chunk)

    def finish(self) -> None:
        """Every byte written and the file closed; on the disk too (fsync) where the staging
        is `durable`."""
        assert self._out is not None, "the file is finished"
        out, self._out = self._out, None
        with out:
            out.flush()
            if self._staging.durable:
                os.fsync(out.fileno())

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.part.unlink(missing_ok=True)


class Staging:
    """The files of one upload while they arrive, at most `limit_bytes` together. `store`
    puts finished ones in place; closing removes every file that was not stored. Not
    `durable`: finished files are not flushed to the disk (they are copied elsewhere, which
    makes them durable, before the upload is answered)."""

    def __init__(self, data_dir: Path, tenant_id: int, *, limit_bytes: int, durable: bool = True) -> None:
        self.data_dir = data_dir
        self.tenant_id = tenant_id
        self.limit_bytes = limit_bytes
        self.durable = durable
        self.total_bytes = 0
        self._open: list[StagedFile] = []

    def new_file(self) -> StagedFile:
        """A new file, written beside the tenants' folders until it is stored."""
        private_dir(self.data_dir / "documents")  # 0700, like the tenants' folders in it
        staged = StagedFile(self, uuid.uuid4().hex)
        self._open.append(staged)
        return staged

    def count(self, size: int) -> None:
        if self.total_bytes + size > self.limit_bytes:
            raise TooLarge(f"the files exceed the upload limit of {mebibytes(self.limit_bytes)}")
        self.total_bytes += size

    def copy(self, source: BinaryIO) -> StagedFile:
        """A finished staged file with the bytes of `source`, read in chunks (blocking: not on the event loop)."""
        staged = self.new_file()
        while chunk := source.read(CHUNK_BYTES):
            staged.write(chunk)
        staged.finish()
        return staged

    def store(self, files: list[StagedFile]) -> list[StoredFile]:
        """Rename finished files into place, in order; on failure, none of them stays."""
        stored: list[StoredFile] = []
        private_dir(self.data_dir / "documents" / str(self.tenant_id))
        try:
            for staged in files:
                os.replace(staged.part, self.data_dir / staged.relative)
                self._open.remove(staged)
                stored.append(StoredFile(staged.relative, staged.size_bytes, staged.sha256))
        except BaseException:
            remove_files(self.data_dir, [f.path for f in stored])
            raise
        return stored

    @property
    def holds_files(self) -> bool:
        """Whether closing has files to remove (blocking I/O then, not for the event loop)."""
        return bool(self._open)

    def close(self) -> None:
        for staged in self._open:
            staged.discard()
        self._open.clear()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_files(data_dir: Path, paths: list[str]) -> list[bytes]:
    return [(data_dir / p).read_bytes() for p in paths]


def remove_files(data_dir: Path, paths: list[str]) -> None:
    for p in paths:
        (data_dir / p).unlink(missing_ok=True)
