"""Accepting an upload: decode, bound, store the files, then create the document in one
transaction. If the transaction fails, the files go too: nothing is half-created."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from dochooks.documents import config as workflow_config
from dochooks.documents import store
from dochooks.documents.files import remove_files, store_files
from dochooks.errors import DochooksError, InvalidInput
from dochooks.runtime import Runtime

MAX_FILES = 20


class TooLarge(DochooksError):
    status = 413
    title = "Payload too large"


def decode_files(encoded: list[str]) -> list[bytes]:
    """Strict base64 (standard alphabet, padding checked); whitespace and line breaks allowed."""
    if not encoded:
        raise InvalidInput("send at least one file", pointer="/data/attributes/files")
    if len(encoded) > MAX_FILES:
        raise InvalidInput(f"at most {MAX_FILES} files per upload", pointer="/data/attributes/files")
    blobs = []
    for i, text in enumerate(encoded):
        try:
            blobs.append(base64.b64decode("".join(text.split()), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("not valid base64", pointer=f"/data/attributes/files/{i}/base64_file") from exc
    return blobs


def check_text(name: str, value: str | None, limit: int = 255) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{name} must be at most {limit} characters", pointer=f"/data/attributes/{name}")
    return value


def accept_upload(
    rt: Runtime,
    tenant_id: int,
    *,
    blobs: list[bytes],
    name: str | None,
    external_id: str | None,
    custom_fields: dict[str, Any],
) -> store.Document:
    if not blobs:
        raise InvalidInput("send at least one file", pointer="/data/attributes/files")
    if sum(len(b) for b in blobs) > rt.settings.max_upload_bytes:
        raise TooLarge(f"the files exceed the upload limit of {rt.settings.max_upload_bytes} bytes")
    check_text("name", name)
    check_text("external_id", external_id)
    stored = store_files(rt.settings.data_dir, tenant_id, blobs)
    try:
        now = rt.clock.now_ms()
        with rt.db.transaction() as conn:
            target = workflow_config.load(conn, tenant_id).processing_target_seconds
            return store.create_document(
                conn,
                tenant_id=tenant_id,
                name=name,
                external_id=external_id,
                custom_fields=custom_fields,
                files=stored,
                sla_deadline=now + target * 1000 if target else None,
                now_ms=now,
            )
    except BaseException:
        remove_files(rt.settings.data_dir, [f.path for f in stored])
        raise
