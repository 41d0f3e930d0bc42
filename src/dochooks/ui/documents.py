"""Documents: upload, the list with status and workflow step, and a document's page with
its timeline and the validation task a person completes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from dochooks.delivery import log
from dochooks.documents import store
from dochooks.documents.uploads import MAX_FILES, accept_upload, staging
from dochooks.documents.validations import complete_validation
from dochooks.documents.workflow import STATUSES, waiting_level
from dochooks.errors import Conflict, InvalidInput, TooLarge
from dochooks.runtime import Runtime
from dochooks.ui.auth import Form, SignedIn, redirect
from dochooks.ui.flash import flash_of, flash_redirect
from dochooks.ui.forms import rows, rows_as_dict, text, whole_number
from dochooks.ui.render import page
from dochooks.ui.sessions import Session
from dochooks.web.deps import Id, Rt, held_by, upload_commits
from dochooks.web.inputs import DocumentAttributes, ValidationAttributes

router = APIRouter(prefix="/documents", include_in_schema=False)
PAGE_SIZE = 25


def _list_context(request: Request, rt: Runtime, session: Session) -> dict[str, Any]:
    status = request.query_params.get("status") or ""
    number = request.query_params.get("page") or "1"
    number_int = whole_number(number, at_most=1_000_000) or 1
    flt = store.DocumentFilter(statuses=(status,) if status in STATUSES else ())
    with rt.db.read() as conn:
        docs, total = store.list_documents(conn, session.tenant_id, flt, page_size=PAGE_SIZE, page_number=number_int)
    return {
        "documents": docs,
        "total": total,
        "status": status if status in STATUSES else "",
        "statuses": STATUSES,
        "page_number": number_int,
        "has_next": number_int * PAGE_SIZE < total,
    }


@router.get("")
def documents(request: Request, rt: Rt, session: SignedIn) -> Response:
    """The list, and the upload form: empty, or as posted with its errors (a flash)."""
    flash = flash_of(request, rt, session)
    form = {"external_id": "", "custom_fields": [], "errors": {}, **(flash.data if flash else {})}
    context = _list_context(request, rt, session)
    return page(request, "documents/list.html", form=form, notice=request.query_params.get("notice"), **context)


def _upload_refused(rt: Runtime, session: Session, errors: dict[str, str], kept: dict[str, Any]) -> Response:
    """Back to the list, whose form shows the errors and what was typed (the files cannot be)."""
    return flash_redirect(rt, session, "/documents", {"errors": errors}, kept)


@router.get("/list")
def documents_fragment(request: Request, rt: Rt, session: SignedIn) -> Response:
    """The table alone, for the page's live refresh."""
    return page(request, "partials/documents.html", **_list_context(request, rt, session))


def _field_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else "file"
        key = "file" if key == "name" else key  # the name is the file's
        errors.setdefault(key, err["msg"] + ".")
    return errors


async def _upload_slot(request: Request, session: SignedIn) -> AsyncIterator[None]:
    """The form's upload holds a slot of the session's tenant, taken before the form is read."""
    with held_by(request, session.tenant_id):
        yield


@router.post("")
def upload(
    request: Request, rt: Rt, session: SignedIn, _slot: Annotated[None, Depends(_upload_slot)], form: Form
) -> Response:
    """A sync route: storing the files and the rows blocks, so it runs off the event loop. The
    slot is taken before the form is read (503 with Retry-After when none is free)."""
    files = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    external_id = text(form, "external_id").strip()
    custom_rows = rows(form, "field_name", "field_value")
    kept = {"external_id": external_id, "custom_fields": custom_rows}
    custom_fields, rows_error = rows_as_dict(custom_rows, "custom field")
    errors: dict[str, str] = {}
    if not files:
        errors["file"] = "Choose a file to upload."
    elif len(files) > MAX_FILES:
        errors["file"] = f"Upload at most {MAX_FILES} files at once."
    if rows_error:
        errors["custom_fields"] = rows_error
    try:  # the API's rules for these attributes
        attrs = DocumentAttributes.model_validate(
            {
                "files": [],
                "name": files[0].filename if files else None,
                "external_id": external_id or None,
                "custom_fields": custom_fields,
            }
        )
    except ValidationError as exc:
        errors = {**_field_errors(exc), **errors}
    if errors:
        return _upload_refused(rt, session, errors, kept)
    try:
        with staging(rt, session.tenant_id) as staged:  # what is not stored goes when it closes
            doc = accept_upload(
                rt,
                upload_commits(request),
                session.tenant_id,
                staged=staged,
                files=[staged.copy(f.file) for f in files],  # the form spooled them; copied in chunks
                name=attrs.name,
                external_id=attrs.external_id,
                custom_fields=attrs.custom_fields,
            )
    except (InvalidInput, TooLarge) as exc:
        key = "custom_fields" if exc.pointer and exc.pointer.endswith("custom_fields") else "file"
        return _upload_refused(rt, session, {key: exc.detail}, kept)
    return redirect(f"/documents/{doc.id}?notice=uploaded")


def _document_context(request: Request, rt: Runtime, session: Session, document_id: int) -> dict[str, Any]:
    with rt.db.read() as conn:
        doc = store.get_document(conn, session.tenant_id, document_id)
        events = store.timeline(conn, session.tenant_id, document_id)
        sent = log.sent_of_events(conn, [e["id"] for e in events])
    return {"doc": doc, "events": events, "sent": sent, "level": waiting_level(doc.state)}


@router.get("/{document_id}")
def document(request: Request, rt: Rt, document_id: Id, session: SignedIn) -> Response:
    context = _document_context(request, rt, session, document_id)
    flash = flash_of(request, rt, session)
    error = flash.data.get("error") if flash else None
    return page(request, "documents/show.html", notice=request.query_params.get("notice"), error=error, **context)


@router.get("/{document_id}/live")
def document_fragment(request: Request, rt: Rt, document_id: Id, session: SignedIn) -> Response:
    """The document's state and timeline alone, for the page's live refresh."""
    return page(request, "partials/document_live.html", **_document_context(request, rt, session, document_id))


@router.post("/{document_id}/validation")
def validate(request: Request, rt: Rt, document_id: Id, session: SignedIn, form: Form) -> Response:
    fields, rows_error = rows_as_dict(rows(form, "field_name", "field_value"), "field")
    given = {"document_type": text(form, "document_type").strip() or None, "fields": fields or None}
    try:
        if rows_error:
            raise InvalidInput(rows_error)
        try:
            corrections = ValidationAttributes.model_validate(given).model_dump()
        except ValidationError as exc:
            raise InvalidInput(next(iter(_field_errors(exc).values()))) from exc
        with rt.db.transaction() as conn:
            complete_validation(conn, session.tenant_id, document_id, corrections, rt.clock.now_ms())
    except (InvalidInput, Conflict) as exc:
        with rt.db.read() as conn:  # 404 for what is not the tenant's, before a flash is kept for its page
            store.get_document(conn, session.tenant_id, document_id)
        return flash_redirect(rt, session, f"/documents/{document_id}", {"error": exc.detail})
    return redirect(f"/documents/{document_id}?notice=validated")
