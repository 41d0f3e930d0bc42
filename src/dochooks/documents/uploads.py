"""Accepting an upload: its files staged on disk as they arrive, at most the upload limit
together, then the document created in one transaction. If the transaction fails, the files
go too: nothing is half-created."""

from __future__ import annotations

from typing import Any

import orjson

from dochooks.db import Connection
from dochooks.db.group_commit import GroupCommit
from dochooks.documents import config as workflow_config
from dochooks.documents import store
from dochooks.documents.files import StagedFile, Staging
from dochooks.errors import InvalidInput
from dochooks.runtime import Runtime

MAX_FILES = 20
MAX_CUSTOM_FIELDS_BYTES = 16 * 1024
# Payloads, API documents and the delivery log wrap custom_fields a few levels deeper, and
# JSON encoders stop at a depth (orjson: 255): far below it, so that what is stored is
# always readable.
MAX_CUSTOM_FIELDS_DEPTH = 32


def staging(rt: Runtime, tenant_id: int) -> Staging:
    """Where an upload's files are written while they arrive; close it when the upload is done."""
    return rt.files.staging(tenant_id, limit_bytes=rt.settings.max_upload_bytes)


def nesting_depth(value: Any, *, stop_after: int) -> int:
    """How deeply objects and arrays nest in a JSON value (a scalar is 0), counted without
    recursion and only up to `stop_after` + 1."""
    depth, level = 0, [value]
    while level and depth <= stop_after:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            break
        depth += 1
        level = [item for c in containers for item in (c.values() if isinstance(c, dict) else c)]
    return depth


def check_custom_fields(custom_fields: dict[str, Any]) -> None:
    """Custom fields travel in every payload of the document: bounded in size and depth,
    and plain JSON. Every way in (JSON:API, multipart, the web form) comes through here."""
    if nesting_depth(custom_fields, stop_after=MAX_CUSTOM_FIELDS_DEPTH) > MAX_CUSTOM_FIELDS_DEPTH:
        raise InvalidInput(
            f"custom_fields may nest objects and arrays {MAX_CUSTOM_FIELDS_DEPTH} deep at most",
            attribute="custom_fields",
        )
    try:
        size = len(orjson.dumps(custom_fields))
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"custom_fields cannot be stored: {exc}", attribute="custom_fields") from exc
    if size > MAX_CUSTOM_FIELDS_BYTES:
        raise InvalidInput(
            f"custom_fields must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes as JSON", attribute="custom_fields"
        )


def accept_upload(
    rt: Runtime,
    commits: GroupCommit,
    tenant_id: int,
    *,
    staged: Staging,
    files: list[StagedFile],
    name: str | None,
    external_id: str | None,
    custom_fields: dict[str, Any],
) -> store.Document:
    """Create the document of `files`, finished in `staged`: the files are put in the file
    store first (in the data directory: before the transaction, removed again if it fails;
    in the database: in the same transaction). The transaction is committed with the uploads
    other threads hand `commits` meanwhile (one disk flush)."""
    if not files:
        raise InvalidInput("send at least one file", attribute="files")
    check_custom_fields(custom_fields)
    placed = rt.files.put(staged, files)

    def create(conn: Connection) -> store.Document:
        placed.write(conn)
        now = rt.clock.now_ms()
        sla_seconds = workflow_config.load(conn, tenant_id).processing_target_seconds
        return store.create_document(
            conn,
            tenant_id=tenant_id,
            name=name,
            external_id=external_id,
            custom_fields=custom_fields,
            files=placed.stored,
            sla_deadline=now + sla_seconds * 1000 if sla_seconds else None,
            now_ms=now,
        )

    try:
        return commits.run(create)
    except BaseException:
        placed.undo()
        raise
