"""JSON:API `include` for documents: what a payload leaves out, on request. `include=fields`
adds each extracted field as a `fields` resource, `include=classification` the document's
classification as a `classifications` resource; both go in the top-level `included` array,
linked from the document's `relationships`. Both come from the document's own row, so a
page of documents costs no query more."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.exceptions import RequestValidationError

from dochooks.api.jsonapi import resource
from dochooks.documents.store import Document
from dochooks.documents.workflow import stage_status

INCLUDABLE = ("fields", "classification")
DESCRIPTION = (
    "Related resources to add in `included`, comma-separated: `fields` (each extracted field) "
    "and `classification` (the document type and how far classification has come)."
)


def requested(include: str | None) -> frozenset[str]:
    """The relationship paths asked for; any other is refused by name (400), as JSON:API says."""
    paths = frozenset(p.strip() for p in (include or "").split(",") if p.strip())
    unknown = sorted(paths - set(INCLUDABLE))
    if unknown:
        detail = f"include takes {', '.join(INCLUDABLE)}, comma-separated; not {', '.join(unknown)}"
        raise RequestValidationError([{"loc": ("query", "include"), "msg": detail, "type": "value_error"}])
    return paths


def _field(doc: Document, name: str, value: Any) -> dict[str, Any]:
    return resource("fields", f"{doc.id}-{name}", {"name": name, "value": value})


def _classification(doc: Document) -> dict[str, Any]:
    status = stage_status(doc.workflow_step, doc.state, "classification")
    return resource("classifications", doc.id, {"document_type": doc.document_type, "status": status})


def _identifier(found: dict[str, Any]) -> dict[str, str]:
    return {"type": found["type"], "id": found["id"]}


def _related(doc: Document, paths: frozenset[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The document's relationships for `paths`, and the resources they name."""
    relationships: dict[str, Any] = {}
    included: list[dict[str, Any]] = []
    if "fields" in paths:
        fields = [_field(doc, name, value) for name, value in doc.extracted.items()]
        # the status says whether a field missing here may still come
        status = stage_status(doc.workflow_step, doc.state, "extraction")
        relationships["fields"] = {"data": [_identifier(f) for f in fields], "meta": {"status": status}}
        included += fields
    if "classification" in paths:
        classification = _classification(doc)
        relationships["classification"] = {"data": _identifier(classification)}
        included.append(classification)
    return relationships, included


def compound(resources: Iterable[tuple[dict[str, Any], Document]], paths: frozenset[str]) -> dict[str, Any]:
    """Link each document resource to what `paths` name, and the top-level members that
    carry them: `included` (empty if nothing matched) when anything was asked for."""
    if not paths:
        return {}
    included: list[dict[str, Any]] = []
    for found, doc in resources:
        found["relationships"], more = _related(doc, paths)
        included += more
    return {"included": included}
