"""The file stores on SQLite and PostgreSQL (and S3, on a local S3-compatible server): what
`put` keeps is what `open` reads, byte for byte, large or empty; `delete` goes with its
transaction; which store each engine gets."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from dochooks.documents.file_store import DatabaseFiles, LocalFiles, open_file_store
from dochooks.documents.files import CHUNK_BYTES, StoredFile
from dochooks.errors import ConfigError
from dochooks.runtime import Runtime
from tests.factories.peers import S3_CREDENTIALS, running_s3
from tests.factories.stores import make_tenant

LARGE = hashlib.shake_256(b"large").digest(2 * CHUNK_BYTES + 17)  # three chunks, the last short


def put(rt: Runtime, tenant_id: int, *contents: bytes, commit: bool = True) -> list[StoredFile]:
    """Files with these contents put in the runtime's store, as an upload puts them."""
    with rt.files.staging(tenant_id, limit_bytes=10 * CHUNK_BYTES) as staging:
        placed = rt.files.put(staging, [staging.copy(io.BytesIO(c)) for c in contents])
        try:
            with rt.db.transaction() as conn:
                placed.write(conn)
                if not commit:
                    raise RuntimeError("the document's transaction failed")
        except RuntimeError:
            placed.undo()
    return placed.stored


@pytest.fixture(params=["local", "database", "s3"])
def store(request: pytest.FixtureRequest, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The test's runtime with each file store in turn (S3: a local server, a bucket of its own)."""
    if request.param != "s3":
        yield runtime.tuned(file_store=request.param)
        return
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with running_s3("files") as url:
        yield runtime.tuned(file_store="s3", s3_bucket="files", s3_endpoint_url=url)


def documents_folder(rt: Runtime) -> list[Path]:
    folder = rt.settings.data_dir / "documents"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_what_a_store_puts_it_opens_whole_and_deletes_with_its_transaction(store: Runtime) -> None:
    rt, choice = store, store.settings.file_store
    tenant = make_tenant(rt.db).tenant_id
    stored = put(rt, tenant, LARGE, b"", b"Invoice 7\n")
    assert [(f.size_bytes, f.sha256) for f in stored] == [
        (len(c), hashlib.sha256(c).hexdigest()) for c in (LARGE, b"", b"Invoice 7\n")
    ]
    paths = [f.path for f in stored]
    assert rt.files.open(list(reversed(paths))) == [b"Invoice 7\n", b"", LARGE]
    assert len(documents_folder(rt)) == (3 if choice == "local" else 0)  # no staged file is left either way

    with pytest.raises(RuntimeError), rt.db.transaction() as conn:
        rt.files.delete(conn, paths[:1])
        raise RuntimeError("the pruning transaction failed")
    assert rt.files.open(paths[:1]) == [LARGE]
    with rt.db.transaction() as conn:
        rt.files.delete(conn, paths[:2])
    assert rt.files.open(paths[2:]) == [b"Invoice 7\n"]
    with pytest.raises(FileNotFoundError):
        rt.files.open(paths[:1])
    assert len(documents_folder(rt)) == (1 if choice == "local" else 0)


def test_files_of_a_failed_transaction_are_not_kept(store: Runtime) -> None:
    rt = store
    (stored,) = put(rt, make_tenant(rt.db).tenant_id, b"gone", commit=False)
    assert documents_folder(rt) == []
    with pytest.raises(FileNotFoundError):
        rt.files.open([stored.path])


def test_every_store_reads_and_deletes_files_kept_on_disk_before_it(store: Runtime) -> None:
    rt = store
    tenant = make_tenant(rt.db).tenant_id
    (earlier,) = put(rt.tuned(file_store="local"), tenant, b"from the data directory")
    (later,) = put(rt, tenant, b"from the store")
    assert rt.files.open([earlier.path, later.path]) == [b"from the data directory", b"from the store"]
    with rt.db.transaction() as conn:
        rt.files.delete(conn, [earlier.path, later.path])
    assert documents_folder(rt) == []


def test_each_engine_gets_the_store_its_processes_all_reach_unless_told(runtime: Runtime) -> None:
    shared = not runtime.db.dialect.owned_by_one_process  # PostgreSQL: processes on any host
    assert isinstance(runtime.files, DatabaseFiles if shared else LocalFiles)
    assert isinstance(open_file_store(runtime.settings.__class__(file_store="local"), runtime.db), LocalFiles)
    with pytest.raises(ConfigError, match="DOCHOOKS_FILE_STORE: 'S3' is not one of local, database, s3"):
        open_file_store(runtime.tuned(file_store="S3").settings, runtime.db)
    with pytest.raises(ConfigError, match="DOCHOOKS_FILE_STORE=s3 needs DOCHOOKS_S3_BUCKET"):
        open_file_store(runtime.tuned(file_store="s3").settings, runtime.db)


def test_only_the_local_store_flushes_an_upload_to_the_disk_before_its_transaction(runtime: Runtime) -> None:
    assert runtime.tuned(file_store="local").files.staging(1, limit_bytes=1).durable
    assert not runtime.tuned(file_store="database").files.staging(1, limit_bytes=1).durable
