"""Document files in S3-compatible object storage (`DOCHOOKS_FILE_STORE=s3`), through boto3
(the `s3` extra): one object a file, under `DOCHOOKS_S3_PREFIX` in `DOCHOOKS_S3_BUCKET`,
credentials and region from the usual AWS settings (`AWS_ACCESS_KEY_ID`, ..., or the
host's role). Files before rows, as on disk: an object is written before the document's
transaction and deleted again if that fails; pruning deletes it once the rows' deletion
has committed (a crash in between leaves an object no row points at, never a row without
its file)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dochooks.db import Connection
from dochooks.documents.file_store import LocalFiles, Placed
from dochooks.documents.files import StagedFile, Staging, StoredFile
from dochooks.errors import ConfigError

DELETE_BATCH = 1000  # keys one DeleteObjects request takes at most


class S3Files:
    """Files as objects of a bucket every process reaches. Files a document got while the
    store was the data directory are read from there, and deleted from there too."""

    def __init__(self, data_dir: Path, *, bucket: str | None, prefix: str, endpoint_url: str | None) -> None:
        if not bucket:
            raise ConfigError("DOCHOOKS_FILE_STORE=s3 needs DOCHOOKS_S3_BUCKET")
        try:
            import boto3
        except ImportError as exc:
            raise ConfigError("DOCHOOKS_FILE_STORE=s3 needs boto3: pip install 'dochooks[s3]'") from exc
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url)
        self._bucket, self._prefix = bucket, prefix
        self._data_dir = data_dir
        self._local = LocalFiles(data_dir)

    def staging(self, tenant_id: int, *, limit_bytes: int) -> Staging:
        # No fsync: the object store has the bytes before the document's transaction begins.
        return Staging(self._data_dir, tenant_id, limit_bytes=limit_bytes, durable=False)

    def put(self, staging: Staging, files: list[StagedFile]) -> Placed:
        stored: list[StoredFile] = []
        try:
            for staged in files:
                self._client.upload_file(str(staged.part), self._bucket, self._prefix + staged.relative)
                stored.append(StoredFile(staged.relative, staged.size_bytes, staged.sha256))
        except BaseException:
            self._remove([f.path for f in stored])
            raise
        paths = [f.path for f in stored]
        return Placed(stored, write=lambda conn: None, undo=lambda: self._remove(paths))

    def open(self, paths: Sequence[str]) -> list[bytes]:
        return [self._read(p) for p in paths]

    def delete(self, conn: Connection, paths: Sequence[str]) -> None:
        gone = list(paths)
        conn.after_commit(lambda: self._remove(gone))  # rows first: never a row without its file
        self._local.delete(conn, gone)

    def _read(self, path: str) -> bytes:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self._prefix + path)
        except self._client.exceptions.NoSuchKey:
            return self._local.open([path])[0]  # stored on disk before the store was S3
        body: bytes = answer["Body"].read()
        return body

    def _remove(self, paths: list[str]) -> None:
        for start in range(0, len(paths), DELETE_BATCH):
            keys = [{"Key": self._prefix + p} for p in paths[start : start + DELETE_BATCH]]
            self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
