"""Routes for documents: upload (JSON:API or multipart), the pull API, timeline and validations."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from dochooks.api.deps import JsonBody, Tenant, UploadSlot, media_type
from dochooks.api.jsonapi import JSON_TYPES, JsonApiResponse, document, page_link, resource
from dochooks.api.schemas import DocumentUploadBody, ValidationBody
from dochooks.clock import parse_iso
from dochooks.documents import store
from dochooks.documents.files import StagedFile, Staging
from dochooks.documents.json_upload import JsonUpload
from dochooks.documents.uploads import MAX_FILES, accept_upload, staging
from dochooks.documents.validations import complete_validation
from dochooks.documents.workflow import STATUSES
from dochooks.errors import InvalidInput
from dochooks.web.deps import Id, Rt, upload_commits
from dochooks.web.inputs import TEN_YEARS, DocumentAttributes, ShortText

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def document_resource(doc: store.Document) -> dict[str, Any]:
    return resource(
        "documents",
        doc.id,
        {
            **store.payload(doc)["attributes"],
            "name": doc.name,
            "workflow_step": doc.workflow_step,
            "document_type": doc.document_type,
            "pending_validation": doc.pending_validation,
            "file_type": doc.file_type,
            "page_count": doc.page_count,
            "extracted_fields": doc.extracted,
            "error": doc.error,
        },
        f"/v1/documents/{doc.id}",
    )


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/vnd.api+json": {"schema": DocumentUploadBody.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                        "external_id": {"type": "string"},
                        "custom_fields": {"type": "string", "description": "A JSON object, as text."},
                    },
                }
            },
        },
    }
}


async def _from_json(request: Request, staged: Staging) -> tuple[list[StagedFile], DocumentAttributes]:
    """Each `base64_file` decoded into a staged file as the body arrives; the rest of the
    document (small) checked by the schema, as a whole body would be."""
    body = JsonUpload(staged)
    async for chunk in request.stream():
        # decoding and writing block: not on the event loop the dispatcher shares
        await run_in_threadpool(body.feed, chunk)
    try:
        parsed = DocumentUploadBody.model_validate_json(body.json())
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
    attrs = parsed.data.attributes
    return body.files([f.base64_file for f in attrs.files]), attrs


async def _from_form(request: Request, staged: Staging) -> tuple[list[StagedFile], DocumentAttributes]:
    form = await request.form(max_files=MAX_FILES, max_fields=10)  # files spooled to disk as they arrive
    try:
        uploads = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        if not uploads:
            # No JSON pointer: the body is a form, not JSON; the detail names the field.
            raise InvalidInput(
                "the form has no file: send the document as the form field `file` (curl -F file=@invoice.pdf)"
            )
        files = [await run_in_threadpool(staged.copy, f.file) for f in uploads]
    finally:
        await form.close()

    def text(key: str) -> str | None:
        value = form.get(key)
        return value if isinstance(value, str) and value != "" else None

    custom: Any = {}
    if text("custom_fields") is not None:
        try:
            custom = orjson.loads(text("custom_fields") or "")
        except orjson.JSONDecodeError as exc:
            raise InvalidInput("custom_fields must be a JSON object", attribute="custom_fields") from exc
    name = text("name") or uploads[0].filename or None
    fields = {"files": [], "name": name, "external_id": text("external_id"), "custom_fields": custom}
    try:  # the same rules as a JSON:API upload
        attrs = DocumentAttributes.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", "data", "attributes", *e["loc"])} for e in exc.errors()]
        ) from exc
    return files, attrs


@router.post("", status_code=201, summary="Upload a document", openapi_extra=_UPLOAD_BODY)
async def upload(request: Request, rt: Rt, tenant: Tenant, _slot: UploadSlot) -> JsonApiResponse:
    """Upload a document as JSON:API (`files[].base64_file`) or multipart (`file`); it
    starts through the workflow at once and `document-received` is published. 503 with
    `Retry-After` while `max_concurrent_uploads` uploads are being received."""
    kind = media_type(request)
    if kind != "multipart/form-data" and kind not in JSON_TYPES:
        raise HTTPException(415, "send the document as application/vnd.api+json or multipart/form-data")
    staged = staging(rt, tenant)
    try:
        read = _from_form if kind == "multipart/form-data" else _from_json
        files, attrs = await read(request, staged)
        doc = await run_in_threadpool(
            accept_upload,
            rt,
            upload_commits(request),
            tenant,
            staged=staged,
            files=files,
            name=attrs.name,
            external_id=attrs.external_id,
            custom_fields=attrs.custom_fields,
        )
    finally:  # what was not stored goes; after a stored upload nothing is left, and no thread is needed
        if staged.holds_files:
            await run_in_threadpool(staged.close)
        staged.close()
    response = document(document_resource(doc), 201)
    response.headers["Location"] = f"/v1/documents/{doc.id}"
    return response


def _time(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise HTTPException(400, f"{name} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z") from exc


@router.get("", summary="List documents (the pull API)")
def list_all(
    request: Request,
    rt: Rt,
    tenant: Tenant,
    status: Annotated[
        str | None,
        Query(
            alias="filter[status]", description="One or more of pending, in_progress, done, failed, comma-separated."
        ),
    ] = None,
    external_id: Annotated[ShortText | None, Query(alias="filter[external_id]")] = None,
    updated_after: Annotated[str | None, Query(alias="filter[updated_after]", description="ISO 8601 time.")] = None,
    updated_before: Annotated[str | None, Query(alias="filter[updated_before]", description="ISO 8601 time.")] = None,
    overdue: Annotated[
        bool | None, Query(alias="filter[overdue]", description="true: unfinished documents past their sla_deadline.")
    ] = None,
    older_than: Annotated[
        int | None,
        Query(
            alias="filter[older_than]",
            ge=0,
            le=TEN_YEARS,
            description="Unfinished documents uploaded more than this many seconds ago.",
        ),
    ] = None,
    size: Annotated[int, Query(alias="page[size]", ge=1, le=100)] = 25,
    number: Annotated[int, Query(alias="page[number]", ge=1, le=1_000_000)] = 1,
) -> JsonApiResponse:
    """Documents, most recently updated first. For the backup strategy of the product page
    (find what a webhook may have missed), ask for `filter[overdue]=true` or
    `filter[older_than]=300`: unfinished documents past their deadline or older than 5 min."""
    statuses = tuple(s for s in (status or "").split(",") if s)
    if any(s not in STATUSES for s in statuses):
        raise HTTPException(400, f"filter[status] takes {', '.join(STATUSES)}")
    now = rt.clock.now_ms()
    flt = store.DocumentFilter(
        statuses=statuses,
        external_id=external_id,
        updated_after=_time("filter[updated_after]", updated_after),
        updated_before=_time("filter[updated_before]", updated_before),
        overdue_at=now if overdue else None,
        created_before=now - older_than * 1000 if older_than is not None else None,
    )
    with rt.db.read() as conn:
        docs, total = store.list_documents(conn, tenant, flt, page_size=size, page_number=number)
    links = {}
    if number * size < total:
        links["next"] = page_link(request, number=number + 1, size=size)
    if number > 1:
        links["prev"] = page_link(request, number=number - 1, size=size)
    return document([document_resource(d) for d in docs], meta={"total": total}, links=links)


@router.get("/{document_id}", summary="Show a document (the pull fallback)")
def show(document_id: Id, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        return document(document_resource(store.get_document(conn, tenant, document_id)))


@router.post("/{document_id}/validations", dependencies=[JsonBody], summary="Complete the pending validation")
def validate(document_id: Id, body: ValidationBody, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Complete the document's pending validation task, with optional corrections; the
    document moves to its next level or stage. 409 when nothing is pending."""
    corrections = body.data.attributes.model_dump()
    with rt.db.transaction() as conn:
        doc = complete_validation(conn, tenant, document_id, corrections, rt.clock.now_ms())
    return document(document_resource(doc))
