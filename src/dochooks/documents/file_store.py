"""Where document files are kept, behind one interface (`FileStore`): an upload's staged
files put where its document's rows will point, opened for the workflow's processors, and
deleted with the rows that pruning deletes. Two stores here, chosen by `DOCHOOKS_FILE_STORE`
(and a third, S3-compatible object storage, in `s3_files.py`):

- `LocalFiles`, the data directory (the default where one process owns the database:
  SQLite). Files before rows: a staged file is renamed into place before the document's
  transaction and removed again if that fails; pruning unlinks it once its rows' deletion
  has committed. A crash leaves at worst a file no row points at, never a row without its file.
- `DatabaseFiles`, the `document_file_chunks` table (the default where several processes,
  on several hosts, share the database: PostgreSQL). The bytes commit in the document's own
  transaction and are deleted in the one that prunes it, so there is no order to keep and
  nothing is left over; every process of the database reads them, wherever it runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dochooks.db import Connection, Database, in_clause, rows_by
from dochooks.documents.files import CHUNK_BYTES, StagedFile, Staging, StoredFile, read_files, remove_files
from dochooks.errors import ConfigError
from dochooks.settings import Settings

CHOICES = ("local", "database", "s3")


@dataclass(frozen=True)
class Placed:
    """An upload's files put where its document will point: `stored` for the document's rows,
    `write` to run in the document's transaction, `undo` once that transaction failed."""

    stored: list[StoredFile]
    write: Callable[[Connection], None]
    undo: Callable[[], None]


class FileStore(Protocol):
    def staging(self, tenant_id: int, *, limit_bytes: int) -> Staging:
        """Where an upload's files are written while they arrive (this host's data directory)."""
        ...

    def put(self, staging: Staging, files: list[StagedFile]) -> Placed:
        """Finished staged files made ready for the document's transaction (blocking I/O)."""
        ...

    def open(self, paths: Sequence[str]) -> list[bytes]:
        """The files' bytes, in the order of `paths` (blocking I/O)."""
        ...

    def delete(self, conn: Connection, paths: Sequence[str]) -> None:
        """Delete the files with `conn`'s transaction: gone once it commits, kept if it fails."""
        ...


def _nothing(*_: object) -> None:
    return None


class LocalFiles:
    """Files under the data directory of this host."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir

    def staging(self, tenant_id: int, *, limit_bytes: int) -> Staging:
        return Staging(self._data_dir, tenant_id, limit_bytes=limit_bytes)  # on the disk before the rows exist

    def put(self, staging: Staging, files: list[StagedFile]) -> Placed:
        stored = staging.store(files)  # in place before the rows exist
        paths = [f.path for f in stored]
        return Placed(stored, write=_nothing, undo=lambda: remove_files(self._data_dir, paths))

    def open(self, paths: Sequence[str]) -> list[bytes]:
        return read_files(self._data_dir, list(paths))

    def delete(self, conn: Connection, paths: Sequence[str]) -> None:
        data_dir, gone = self._data_dir, list(paths)
        conn.after_commit(lambda: remove_files(data_dir, gone))  # rows first: never a row without its file


class DatabaseFiles:
    """Files in the database, in chunks of at most CHUNK_BYTES. Files a document got while the
    store was the data directory are read from there, and deleted from there too."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self._data_dir = data_dir
        self._local = LocalFiles(data_dir)

    def staging(self, tenant_id: int, *, limit_bytes: int) -> Staging:
        # No fsync: the bytes are durable once the document's transaction commits them.
        return Staging(self._data_dir, tenant_id, limit_bytes=limit_bytes, durable=False)

    def put(self, staging: Staging, files: list[StagedFile]) -> Placed:
        stored = [StoredFile(f.relative, f.size_bytes, f.sha256) for f in files]

        def write(conn: Connection) -> None:  # read from the staged file again if a group commit runs it again
            for staged in files:
                # A file of one chunk goes with the transaction's next read; a larger one chunk by
                # chunk, each answered before the next is read, so that an upload holds one chunk
                # in memory however large its file (queued writes wait in the client's buffer).
                send = conn.queue if staged.size_bytes <= CHUNK_BYTES else conn.run
                for n, data in enumerate(_chunks(staged.part)):
                    send(
                        "INSERT INTO document_file_chunks (path, seq, data) VALUES (:path, :seq, :data)",
                        {"path": staged.relative, "seq": n, "data": data},
                    )

        return Placed(stored, write=write, undo=_nothing)  # the staged files go when the staging closes

    def open(self, paths: Sequence[str]) -> list[bytes]:
        query = "SELECT path, data FROM document_file_chunks WHERE path IN {values} ORDER BY path, seq"
        with self._db.read() as conn:
            chunks = rows_by(conn, query, "path", list(paths))
        earlier = [p for p in paths if not chunks[p]]
        on_disk = dict(zip(earlier, self._local.open(earlier), strict=True))
        return [on_disk[p] if p in on_disk else b"".join(bytes(r["data"]) for r in chunks[p]) for p in paths]

    def delete(self, conn: Connection, paths: Sequence[str]) -> None:
        if paths:
            listed, params = in_clause("f", paths)
            conn.queue(f"DELETE FROM document_file_chunks WHERE path IN {listed}", params)
            self._local.delete(conn, paths)


def _chunks(path: Path) -> Iterator[bytes]:
    """A file's bytes in pieces of at most CHUNK_BYTES; an empty file is one empty piece."""
    with open(path, "rb") as source:
        first = source.read(CHUNK_BYTES)
        yield first
        while chunk := source.read(CHUNK_BYTES):
            yield chunk


def open_file_store(settings: Settings, db: Database) -> FileStore:
    """The store `DOCHOOKS_FILE_STORE` names; unset, the data directory where one process owns
    the database, else the database, which every process reaches."""
    choice = settings.file_store or ("local" if db.dialect.owned_by_one_process else "database")
    if choice == "local":
        return LocalFiles(settings.data_dir)
    if choice == "database":
        return DatabaseFiles(db, settings.data_dir)
    if choice == "s3":
        from dochooks.documents.s3_files import S3Files  # boto3 only where it is used

        return S3Files(
            settings.data_dir,
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
        )
    raise ConfigError(f"DOCHOOKS_FILE_STORE: {choice!r} is not one of {', '.join(CHOICES)}")
