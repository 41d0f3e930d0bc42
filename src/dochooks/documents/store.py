"""Document rows: create on upload, read and list for the pull API, and apply workflow
transitions, publishing each topic in the same transaction as the change."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from dochooks.clock import iso
from dochooks.db import Connection, Row, in_clause
from dochooks.delivery.publish import publish_unread
from dochooks.documents.files import StoredFile
from dochooks.documents.workflow import DocumentStatus, Transition, on_upload
from dochooks.errors import NotFound
from dochooks.signals import work_queued

_JSON_COLUMNS = ("custom_fields", "extracted")


@dataclass(frozen=True)
class Document:
    id: int
    tenant_id: int
    name: str | None
    external_id: str | None
    custom_fields: dict[str, Any]
    status: DocumentStatus
    workflow_step: str
    state: str
    pending_validation: str | None
    document_type: str | None
    file_type: str | None
    page_count: int | None
    content_text: str | None
    extracted: dict[str, Any]
    error: str | None
    sla_deadline: int | None
    created_at: int
    updated_at: int

    def moved(self, transition: Transition, now_ms: int) -> Document:
        """The document as `transition` leaves it at `now_ms`, without reading it again."""
        return dataclasses.replace(self, **transition.changes, updated_at=now_ms)


def _document(row: Row) -> Document:
    fields = {k: row[k] for k in Document.__dataclass_fields__}
    for column in _JSON_COLUMNS:
        fields[column] = orjson.loads(row[column])
    fields["status"] = DocumentStatus(fields["status"])
    return Document(**fields)


def payload(doc: Document) -> dict[str, Any]:
    """The webhook body for a document, without request_id and topic: nothing sensitive."""
    return {
        "id": str(doc.id),
        "type": "documents",
        "attributes": {
            "status": doc.status,
            "tenant_id": doc.tenant_id,
            "sla_deadline": iso(doc.sla_deadline),
            "custom_fields": doc.custom_fields,
            "external_id": doc.external_id,
            "created_at": iso(doc.created_at),
            "updated_at": iso(doc.updated_at),
            "document_id": doc.id,
        },
    }


def get_document(conn: Connection, tenant_id: int, document_id: int) -> Document:
    row = conn.one("SELECT * FROM documents WHERE id = :id AND tenant_id = :t", {"id": document_id, "t": tenant_id})
    if row is None:
        raise NotFound(f"no document {document_id}")
    return _document(row)


def documents_by_id(conn: Connection, document_ids: Sequence[int]) -> dict[int, Document]:
    """The documents of any tenant with these ids (for the workflow runner), by id."""
    ids, params = in_clause("d", document_ids)
    return {row["id"]: _document(row) for row in conn.all(f"SELECT * FROM documents WHERE id IN {ids}", params)}


def file_paths(conn: Connection, document_ids: Sequence[int]) -> dict[int, list[str]]:
    """The stored files of each document, in upload order."""
    ids, params = in_clause("d", document_ids)
    rows = conn.all(
        f"SELECT document_id, path FROM document_files WHERE document_id IN {ids} ORDER BY document_id, position",
        params,
    )
    paths: dict[int, list[str]] = {doc_id: [] for doc_id in document_ids}
    for row in rows:
        paths[row["document_id"]].append(row["path"])
    return paths


def _emit(conn: Connection, doc: Document, topics: tuple[str, ...], now_ms: int) -> None:
    """A transition's topics, published unread: nothing here needs the events' ids back."""
    publish_unread(
        conn, tenant_id=doc.tenant_id, topics=topics, payload=payload(doc), now_ms=now_ms, document_id=doc.id
    )


def create_document(
    conn: Connection,
    *,
    tenant_id: int,
    name: str | None,
    external_id: str | None,
    custom_fields: dict[str, Any],
    files: list[StoredFile],
    sla_deadline: int | None,
    now_ms: int,
) -> Document:
    """Insert an uploaded document with its files and emit document-received."""
    start = on_upload()
    row = conn.one(
        "INSERT INTO documents (tenant_id, name, external_id, custom_fields, status, workflow_step, state, "
        "extracted, sla_deadline, run_at, created_at, updated_at) VALUES (:t, :name, :external_id, :custom_fields, "
        ":status, :workflow_step, :state, '{}', :sla, :now, :now, :now) RETURNING *",
        {
            "t": tenant_id,
            "name": name,
            "external_id": external_id,
            "custom_fields": orjson.dumps(custom_fields).decode(),
            "status": start.changes["status"],
            "workflow_step": start.changes["workflow_step"],
            "state": start.changes["state"],
            "sla": sla_deadline,
            "now": now_ms,
        },
    )
    assert row is not None
    conn.many(
        "INSERT INTO document_files (document_id, position, path, size_bytes, sha256) "
        "VALUES (:d, :p, :path, :size, :sha)",
        [{"d": row["id"], "p": i, "path": f.path, "size": f.size_bytes, "sha": f.sha256} for i, f in enumerate(files)],
    )
    doc = _document(row)
    _emit(conn, doc, start.topics, now_ms)
    work_queued.announce(conn)
    return doc


def apply(
    conn: Connection, doc: Document, transitions: Sequence[Transition], now_ms: int, *, worker: str | None = None
) -> Document | None:
    """Move `doc` through `transitions`, in order, and publish each one's topics with the
    document as that transition left it; only if the document is still where `doc` saw it
    (and, for automatic work, still leased by `worker`). A document never returns to a
    (step, state) pair it left, so that pair is its version. One UPDATE whatever the
    number of transitions: the runner commits a document's consecutive automatic steps
    at once. Returns the document as the last transition left it, or None when it had
    moved meanwhile."""
    final: dict[str, Any] = {}
    for transition in transitions:
        final.update(transition.changes)
    changes = {k: (orjson.dumps(v).decode() if k in _JSON_COLUMNS else v) for k, v in final.items()}
    sets = ", ".join(f"{column} = :{column}" for column in changes)
    guard = " AND locked_by = :worker" if worker is not None else ""
    run_now = transitions[-1].run_now
    moved = conn.run(
        f"UPDATE documents SET {sets}, run_at = :run_at, locked_by = NULL, updated_at = :now "
        f"WHERE id = :id AND workflow_step = :expected_step AND state = :expected{guard}",
        {
            **changes,
            "expected_step": doc.workflow_step,
            "run_at": now_ms if run_now else None,
            "now": now_ms,
            "id": doc.id,
            "expected": doc.state,
            "worker": worker,
        },
    )
    if not moved:
        return None
    for transition in transitions:
        doc = doc.moved(transition, now_ms)
        _emit(conn, doc, transition.topics, now_ms)
    if run_now:
        work_queued.announce(conn)
    return doc


@dataclass(frozen=True)
class DocumentFilter:
    statuses: tuple[str, ...] = ()
    external_id: str | None = None
    updated_after: int | None = None
    updated_before: int | None = None
    overdue_at: int | None = None  # unfinished with sla_deadline before this time
    created_before: int | None = None  # unfinished and created before this time


def list_documents(
    conn: Connection, tenant_id: int, flt: DocumentFilter, *, page_size: int, page_number: int
) -> tuple[list[Document], int]:
    """One page of the tenant's documents, most recently updated first, and the total count."""
    where = ["tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id}
    if flt.statuses:
        where.append("status IN (" + ", ".join(f":s{i}" for i in range(len(flt.statuses))) + ")")
        params.update({f"s{i}": s for i, s in enumerate(flt.statuses)})
    for clause, key, value in (
        ("external_id = :external_id", "external_id", flt.external_id),
        ("updated_at > :updated_after", "updated_after", flt.updated_after),
        ("updated_at < :updated_before", "updated_before", flt.updated_before),
        ("status NOT IN ('done', 'failed') AND sla_deadline < :overdue_at", "overdue_at", flt.overdue_at),
        ("status NOT IN ('done', 'failed') AND created_at < :created_before", "created_before", flt.created_before),
    ):
        if value is not None:
            where.append(clause)
            params[key] = value
    condition = " AND ".join(where)
    total = conn.one(f"SELECT COUNT(*) AS n FROM documents WHERE {condition}", params)
    rows = conn.all(
        f"SELECT * FROM documents WHERE {condition} ORDER BY updated_at DESC, id DESC LIMIT :limit OFFSET :offset",
        {**params, "limit": page_size, "offset": (page_number - 1) * page_size},
    )
    return [_document(r) for r in rows], int(total["n"]) if total else 0


def timeline(conn: Connection, tenant_id: int, document_id: int) -> list[Row]:
    """The topics emitted for a document, oldest first."""
    return conn.all(
        "SELECT id, topic, created_at FROM events WHERE tenant_id = :t AND document_id = :d ORDER BY id",
        {"t": tenant_id, "d": document_id},
    )


_CLAIM = """
UPDATE documents SET run_at = :lease_end, locked_by = :worker
WHERE id IN (SELECT id FROM documents WHERE run_at <= :now ORDER BY run_at LIMIT :limit{lock})
RETURNING id, tenant_id
"""


def claim_due(conn: Connection, *, worker: str, now_ms: int, lease_ms: int, limit: int) -> list[tuple[int, int]]:
    """Lease documents whose automatic work is due; returns (document id, tenant id) pairs."""
    if conn.dialect.commit_unflushed:  # a lease lost in a crash only makes the work due again
        conn.queue(conn.dialect.commit_unflushed)
    rows = conn.all(
        _CLAIM.format(lock=conn.dialect.skip_locked),
        {"lease_end": now_ms + lease_ms, "worker": worker, "now": now_ms, "limit": limit},
    )
    return [(r["id"], r["tenant_id"]) for r in rows]


def drop_lease(conn: Connection, doc_id: int, *, worker: str) -> None:
    """Nothing automatic is due for this document after all: stop running it."""
    conn.run(
        "UPDATE documents SET run_at = NULL, locked_by = NULL WHERE id = :id AND locked_by = :w",
        {"id": doc_id, "w": worker},
    )


def renew_leases(conn: Connection, doc_ids: list[int], *, worker: str, lease_end: int) -> None:
    ids, params = in_clause("d", doc_ids)
    conn.run(
        f"UPDATE documents SET run_at = :lease_end WHERE id IN {ids} AND locked_by = :worker",
        {**params, "lease_end": lease_end, "worker": worker},
    )


def next_due(conn: Connection) -> int | None:
    row = conn.one("SELECT MIN(run_at) AS due FROM documents WHERE run_at IS NOT NULL")
    return None if row is None or row["due"] is None else int(row["due"])


def release_leases(conn: Connection, now_ms: int) -> int:
    """Make every leased document's automatic work due now (at start-up where one process
    owns the database, as for deliveries)."""
    return conn.run(
        "UPDATE documents SET run_at = :now, locked_by = NULL WHERE locked_by IS NOT NULL AND run_at IS NOT NULL",
        {"now": now_ms},
    )
