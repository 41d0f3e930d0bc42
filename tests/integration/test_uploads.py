"""Uploads over real HTTP, on SQLite and PostgreSQL: stored byte for byte however the body
is spelled and cut, bounded in size while they stream, and bounded in number at once."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dochooks.documents.file_store import LocalFiles
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from tests.factories.clients import Api, WebClient, document_doc, live_service, multipart
from tests.factories.stores import make_settings, make_tenant

JSON_TYPE = "application/vnd.api+json"


@contextmanager
def service_with(tmp_path: Path, db_url: str, **settings: Any) -> Iterator[tuple[Runtime, NewTenant, str]]:
    rt = open_runtime(make_settings(tmp_path, db_url, **settings))
    try:
        tenant = make_tenant(rt.db)
        with live_service(rt) as base:
            yield rt, tenant, base
    finally:
        rt.close()


def send_chunked(base: str, token: str, body: bytes, size: int, kind: str = JSON_TYPE) -> tuple[int, Any]:
    """POST /v1/documents with the body in chunks of `size` bytes (Transfer-Encoding: chunked)."""
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=60)
    try:
        pieces = (body[i : i + size] for i in range(0, len(body), size))
        headers = {"Authorization": f"Bearer {token}", "Content-Type": kind}
        conn.request("POST", "/v1/documents", body=pieces, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def stored(rt: Runtime, document_id: str) -> list[tuple[bytes, int, str]]:
    """Each file of a document as its file store keeps it, with the size and SHA-256 its row records."""
    with rt.db.read() as conn:
        rows = conn.all(
            "SELECT path, size_bytes, sha256 FROM document_files WHERE document_id = :d ORDER BY position",
            {"d": int(document_id)},
        )
    kept = rt.files.open([r["path"] for r in rows])
    return [(content, r["size_bytes"], r["sha256"]) for content, r in zip(kept, rows, strict=True)]


def leftovers(rt: Runtime) -> list[Path]:
    """Every file under the documents folder: none may stay behind a refused upload."""
    folder = rt.settings.data_dir / "documents"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def kept_on_disk(rt: Runtime, files: int) -> int:
    """How many files of `files` stored ones are on this host's disk: all of them in the data
    directory's store, none in the database's."""
    return files if isinstance(rt.files, LocalFiles) else 0


def test_a_20_mib_upload_is_stored_byte_identical_as_json_and_as_multipart(
    runtime: Runtime, service: str, tmp_path: Path
) -> None:
    api = Api(service, make_tenant(runtime.db).token)
    content = hashlib.shake_256(b"twenty").digest(20 * 2**20)
    status, body = api.call("POST", "/v1/documents", document_doc(content))
    assert status == 201, body
    raw, kind = multipart(("file", "big.bin", content))
    status, form_body = api.call("POST", "/v1/documents", raw=raw, content_type=kind)
    assert status == 201, form_body
    for doc in (body, form_body):
        ((on_disk, size, sha),) = stored(runtime, doc["data"]["id"])
        assert on_disk == content and size == len(content) and sha == hashlib.sha256(content).hexdigest()
    files = leftovers(runtime)
    assert len(files) == kept_on_disk(runtime, 2) and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    for folder in {f.parent for f in files} | {f.parent.parent for f in files}:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_line_breaks_escaped_slashes_and_unicode_escapes_cut_into_small_chunks_decode_exactly(
    runtime: Runtime, service: str
) -> None:
    token = make_tenant(runtime.db).token
    first, second = hashlib.shake_256(b"one").digest(40_000), hashlib.shake_256(b"two").digest(3_000)
    wrapped = base64.encodebytes(first).decode()  # a line break every 76 characters
    text = json.dumps(document_doc(b"", name="both"))
    files = json.dumps([{"base64_file": wrapped}, {"base64_file": base64.b64encode(second).decode()}])
    files = files.replace("/", "\\/").replace("A", "\\u0041")  # as some encoders write them
    body = text.replace(json.dumps([{"base64_file": ""}]), files).encode()
    for size in (1000, 7, 3):
        status, doc = send_chunked(service, token, body, size)
        assert status == 201, doc
        assert [f[0] for f in stored(runtime, doc["data"]["id"])] == [first, second]
        assert doc["data"]["attributes"]["name"] == "both"


@pytest.mark.parametrize("long", [False, True])
def test_invalid_base64_is_422_at_its_file_and_leaves_nothing(runtime: Runtime, service: str, long: bool) -> None:
    api = Api(service, make_tenant(runtime.db).token)
    good = base64.b64encode(b"x" * (200_000 if long else 10)).decode()
    bad = good[:-8] + "!" + good[-7:]
    doc = document_doc(b"")
    doc["data"]["attributes"]["files"] = [{"base64_file": good}, {"base64_file": bad}]
    status, body = api.call("POST", "/v1/documents", doc)
    assert status == 422, body
    assert body["errors"][0]["source"]["pointer"] == "/data/attributes/files/1/base64_file"
    assert leftovers(runtime) == []


def test_bad_json_around_a_long_file_is_still_malformed_json(runtime: Runtime, service: str) -> None:
    api = Api(service, make_tenant(runtime.db).token)
    good = json.dumps(document_doc(b"y" * 200_000)).encode()
    for raw in (good[:-1], good.replace(b'"files"', b'"files" 1'), good.replace(b"eXl5", b"eXl5\\q", 1)):
        status, body = api.call("POST", "/v1/documents", raw=raw)
        assert status == 400 and body["errors"][0]["title"] == "Malformed JSON", body
    assert leftovers(runtime) == []


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"name": "n" * 100_000}, "/data/attributes/name"),
        ({"custom_fields": {"note": "c" * 100_000}}, "/data/attributes/custom_fields/note"),
        ({"external_id": "e" * 100_000}, "/data/attributes/external_id"),
    ],
)
def test_a_long_text_anywhere_but_a_file_is_refused_by_its_attribute(
    runtime: Runtime, service: str, attributes: dict[str, Any], pointer: str
) -> None:
    api = Api(service, make_tenant(runtime.db).token)
    status, body = api.call("POST", "/v1/documents", document_doc(b"x", **attributes))
    assert status == 422 and body["errors"][0]["source"]["pointer"] == pointer, body
    assert leftovers(runtime) == []


def test_files_over_the_upload_limit_get_413_while_streaming_with_a_length_or_chunked(
    tmp_path: Path, db_url: str
) -> None:
    limit = 2**20
    with service_with(tmp_path, db_url, max_upload_bytes=limit) as (rt, tenant, base):
        api = Api(base, tenant.token)
        # Within the body limit (base64 and JSON), over the files' limit: refused as it is decoded.
        over = document_doc(b"a" * (limit // 2), name="x")
        over["data"]["attributes"]["files"].append({"base64_file": base64.b64encode(b"b" * (limit // 2 + 1)).decode()})
        status, body = api.call("POST", "/v1/documents", over)
        assert status == 413 and body["errors"][0]["status"] == "413", body
        assert send_chunked(base, tenant.token, json.dumps(over).encode(), 65536)[0] == 413
        raw, kind = multipart(("file", "a", b"a" * (limit + 1)))
        assert api.call("POST", "/v1/documents", raw=raw, content_type=kind)[0] == 413
        # Over the body limit itself, chunked: refused by the body limit once read that far.
        huge = json.dumps(document_doc(b"c" * (2 * limit))).encode()
        status, body = send_chunked(base, tenant.token, huge, 65536)
        assert status == 413 and body["errors"][0]["title"] == "Payload too large", body
        assert leftovers(rt) == [] and api.call("GET", "/v1/documents")[1]["meta"]["total"] == 0
        exact = api.call("POST", "/v1/documents", document_doc(b"d" * limit))
        assert exact[0] == 201, exact


class HeldUpload:
    """An upload whose body we send in two parts, holding its slot in between."""

    def __init__(self, base: str, token: str, body: bytes, first: int) -> None:
        self.body, self.first = body, first
        self.conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=60)
        self.conn.putrequest("POST", "/v1/documents")
        for name, value in {
            "Authorization": f"Bearer {token}",
            "Content-Type": JSON_TYPE,
            "Transfer-Encoding": "chunked",
        }.items():
            self.conn.putheader(name, value)
        self.conn.endheaders()
        self._chunk(body[:first])

    def _chunk(self, data: bytes) -> None:
        self.conn.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def finish(self) -> int:
        self._chunk(self.body[self.first :])
        self.conn.send(b"0\r\n\r\n")
        response = self.conn.getresponse()
        response.read()
        self.conn.close()
        return response.status


def wait_for(check: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_uploads_over_the_concurrent_bound_get_503_with_retry_after_at_once(tmp_path: Path, db_url: str) -> None:
    with service_with(tmp_path, db_url, max_concurrent_uploads=2) as (rt, tenant, base):
        api = Api(base, tenant.token)
        body = json.dumps(document_doc(b"held" * 100_000)).encode()
        other = make_tenant(rt.db, "other")  # one tenant holds half the slots at most
        held = [HeldUpload(base, token, body, 200_000) for token in (tenant.token, other.token)]
        # Both are in the route, decoding into staged files, when the next ones come.
        wait_for(lambda: len(list((rt.settings.data_dir / "documents").glob("*.part"))) == 2)
        status, refused = api.call("POST", "/v1/documents", document_doc(b"x"))
        assert status == 503 and refused["errors"][0]["status"] == "503", refused
        assert int(api.last_headers["retry-after"]) >= 1
        raw, kind = multipart(("file", "a.txt", b"x"))
        assert api.call("POST", "/v1/documents", raw=raw, content_type=kind)[0] == 503
        web = WebClient(base)
        web.sign_in(tenant.token)
        page = web.post_multipart("/documents", ("csrf_token", None, web.csrf().encode()), ("file", "a.txt", b"x"))
        assert page.status == 503 and page.headers["Content-Type"].startswith("text/html")
        assert int(page.headers["Retry-After"]) >= 1
        assert api.call("GET", "/v1/documents")[0] == 200  # other routes are not bounded
        assert [h.finish() for h in held] == [201, 201]
        assert api.call("POST", "/v1/documents", document_doc(b"x"))[0] == 201  # the slots came back


def test_the_upload_form_stores_the_file_whole_and_refuses_one_over_the_limit_by_its_input(
    tmp_path: Path, db_url: str
) -> None:
    with service_with(tmp_path, db_url, max_upload_bytes=2**20) as (rt, tenant, base):
        web = WebClient(base)
        web.sign_in(tenant.token)
        content = hashlib.shake_256(b"form").digest(2**20)
        csrf = ("csrf_token", None, web.csrf().encode())
        done = web.post_multipart("/documents", csrf, ("file", "scan.bin", content), ("external_id", None, b"UI-1"))
        assert done.status == 303 and done.location, done.text
        document_id = done.location.split("?")[0].rsplit("/", 1)[1]
        ((on_disk, size, sha),) = stored(rt, document_id)
        assert (on_disk, size, sha) == (content, len(content), hashlib.sha256(content).hexdigest())
        over = ("file", "big.bin", content + b"!")
        page = web.follow(web.post_multipart("/documents", csrf, over, ("external_id", None, b"X")))
        assert 'id="file-error">the files exceed the upload limit of 1 MiB' in page.text
        assert 'value="X"' in page.text
        assert len(leftovers(rt)) == kept_on_disk(rt, 1)


def test_an_upload_abandoned_midway_gives_back_its_slot_and_leaves_no_file(tmp_path: Path, db_url: str) -> None:
    with service_with(tmp_path, db_url, max_concurrent_uploads=1) as (rt, tenant, base):
        api = Api(base, tenant.token)
        held = HeldUpload(base, tenant.token, json.dumps(document_doc(b"gone" * 100_000)).encode(), 200_000)
        wait_for(lambda: len(leftovers(rt)) == 1)
        assert api.call("POST", "/v1/documents", document_doc(b"x"))[0] == 503
        held.conn.close()  # the client goes away in the middle of its file
        wait_for(lambda: leftovers(rt) == [])
        wait_for(lambda: api.call("POST", "/v1/documents", document_doc(b"x"))[0] == 201)
        assert api.call("GET", "/v1/documents")[1]["meta"]["total"] == 1


def test_one_tenant_holds_half_the_upload_slots_at_most(tmp_path: Path, db_url: str) -> None:
    with service_with(tmp_path, db_url, max_concurrent_uploads=4) as (rt, tenant, base):
        body = json.dumps(document_doc(b"held" * 100_000)).encode()
        held = [HeldUpload(base, tenant.token, body, 200_000) for _ in range(2)]
        wait_for(lambda: len(leftovers(rt)) == 2)
        status, refused = Api(base, tenant.token).call("POST", "/v1/documents", document_doc(b"x"))
        assert status == 503 and "2 of your uploads" in refused["errors"][0]["detail"], refused
        other = Api(base, make_tenant(rt.db, "other").token)
        assert other.call("POST", "/v1/documents", document_doc(b"x"))[0] == 201  # the others are not shut out
        assert [h.finish() for h in held] == [201, 201]


def test_an_upload_that_trickles_past_its_deadline_gets_408_and_gives_back_its_slot(
    tmp_path: Path, db_url: str
) -> None:
    with service_with(tmp_path, db_url, max_concurrent_uploads=1, upload_seconds=1.0) as (rt, tenant, base):
        api = Api(base, tenant.token)
        held = HeldUpload(base, tenant.token, json.dumps(document_doc(b"slow" * 100_000)).encode(), 200_000)
        response = held.conn.getresponse()  # the rest never comes
        assert response.status == 408, response.read()
        assert json.loads(response.read())["errors"][0]["status"] == "408"
        held.conn.close()
        wait_for(lambda: leftovers(rt) == [])
        assert api.call("POST", "/v1/documents", document_doc(b"x"))[0] == 201
