"""Completing a human validation task: the document moves to its next level or stage."""

from __future__ import annotations

from typing import Any

from dochooks.db import Connection
from dochooks.documents import config as workflow_config
from dochooks.documents import store, workflow
from dochooks.errors import Conflict, InvalidInput


def complete_validation(
    conn: Connection, tenant_id: int, document_id: int, corrections: dict[str, Any], now_ms: int
) -> store.Document:
    """Complete the pending task, applying optional corrections (`document_type` while
    classifying, `fields` while extracting); 409 when nothing waits."""
    doc = store.get_document(conn, tenant_id, document_id)
    level = workflow.waiting_level(doc.state)
    if level is None:
        raise Conflict(f"document {document_id} has no pending validation (it is {doc.status}, at {doc.workflow_step})")
    changes: dict[str, Any] = {}
    if corrections.get("document_type") is not None:
        if doc.workflow_step != "classification":
            raise InvalidInput("document_type can be corrected while classifying", attribute="document_type")
        changes["document_type"] = corrections["document_type"]
    if corrections.get("fields") is not None:
        if doc.workflow_step != "extraction":
            raise InvalidInput("fields can be corrected while extracting", attribute="fields")
        changes["extracted"] = {**doc.extracted, **corrections["fields"]}
    levels = workflow_config.load(conn, tenant_id).levels.get(doc.workflow_step, ())
    moved = store.apply(conn, doc, [workflow.after_validation(doc.workflow_step, level, levels, changes)], now_ms)
    if moved is None:
        raise Conflict(f"document {document_id} moved on meanwhile; read it again")
    return moved
