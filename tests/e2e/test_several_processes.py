"""Processes on one PostgreSQL database as an operator spreads them over hosts: each with a
data directory of its own (no disk shared), the same secrets key. A `worker` finishes
documents uploaded to a `serve` whose disk it never saw (files in the database, or in a
bucket of a local S3-compatible server); two `serve` processes take uploads
side by side, and each document is processed once, each of its topics delivered once."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dochooks.db import open_database
from tests.factories.clients import Api, document_doc, webhook_doc
from tests.factories.commands import Served, Worker, tenant, wait_until
from tests.factories.documents import PLAIN_FLOW
from tests.factories.peers import S3_CREDENTIALS, Receiver, running_s3
from tests.factories.stores import TEST_KEY, postgres_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["database", "s3"])
def file_store(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The settings of a file store every host reaches: the database (the default on
    PostgreSQL), or a bucket on a local S3-compatible server."""
    if request.param == "database":
        yield {}
        return
    with running_s3("documents") as url:
        yield {"DOCHOOKS_FILE_STORE": "s3", "DOCHOOKS_S3_BUCKET": "documents", "DOCHOOKS_S3_ENDPOINT_URL": url}


def host(tmp_path: Path, name: str, **settings: str) -> dict[str, str]:
    """The environment of a process on a host of its own: its own data directory (made here),
    the shared key that decrypts the webhooks' secrets, and `settings`."""
    (tmp_path / name).mkdir()
    own = {"DOCHOOKS_DATA_DIR": str(tmp_path / name / "data"), "DOCHOOKS_SECRET_KEY": TEST_KEY}
    return {**own, **S3_CREDENTIALS, **settings}


def files_on_disk(data_dir: Path) -> list[Path]:
    folder = data_dir / "documents"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def statuses(db_url: str) -> dict[int, tuple[str, str | None]]:
    """Each document's status and the text its preprocessing read from its file."""
    db = open_database(db_url)
    try:
        with db.read() as conn:
            rows = conn.all("SELECT id, status, content_text FROM documents")
    finally:
        db.close()
    return {r["id"]: (r["status"], r["content_text"]) for r in rows}


def deliveries_by_document(receiver: Receiver) -> Counter[tuple[str, str]]:
    """How often each (document, topic) arrived, counted by distinct request id."""
    seen = {json.loads(r.body)["request_id"]: json.loads(r.body) for r in receiver.at("/ok/all")}
    return Counter((p["id"], p["topic"]) for p in seen.values())


def test_a_worker_on_another_host_finishes_documents_uploaded_to_serve(
    pg_url: str, tmp_path: Path, receiver: Receiver, file_store: dict[str, str]
) -> None:
    extracting = tmp_path / "extraction-started"
    slow = {"DOCHOOKS_PROCESSORS": "tests.e2e.slow_processors:PROCESSORS", "SLOW_EXTRACT_STARTED": str(extracting)}
    serve_host = host(tmp_path, "api-host", **file_store)
    service = Served(pg_url, tmp_path / "api-host", **serve_host, **slow)
    service.start()
    try:
        acme = tenant(pg_url, "acme", service.env)
        api = Api(service.base, str(acme["token"]))
        assert api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/all"), list(PLAIN_FLOW)))[0] == 201
        uploaded = []
        for n in range(3):
            status, doc = api.call("POST", "/v1/documents", document_doc(f"Invoice {n}".encode()))
            assert status == 201, doc
            uploaded.append(int(doc["data"]["id"]))
        wait_until(extracting.exists, 30)  # serve's runner holds the first document, mid-step
    finally:
        service.kill()  # the API host is gone, its background process with it
    assert files_on_disk(Path(serve_host["DOCHOOKS_DATA_DIR"])) == []  # the files were never on its disk
    shutil.rmtree(tmp_path / "api-host")

    worker_host = host(tmp_path, "worker-host", **file_store)
    worker = Worker(pg_url, tmp_path / "worker-host", "worker", **worker_host)
    worker.start()
    try:
        # The killed runner's lease (10 s) runs out, then the worker takes every document.
        # Every (document, topic) by distinct request id: a resend of a delivery a killed process
        # sent but never recorded arrives again with its request id, and must not count.
        pairs = {(str(doc_id), topic) for doc_id in uploaded for topic in PLAIN_FLOW}
        wait_until(lambda: set(deliveries_by_document(receiver)) >= pairs, 90)
        wait_until(lambda: all(s == "done" for s, _ in statuses(pg_url).values()), 30)
    finally:
        worker.stop()
    assert statuses(pg_url) == {doc_id: ("done", f"Invoice {n}") for n, doc_id in enumerate(uploaded)}
    expected = {(str(doc_id), topic): 1 for doc_id in uploaded for topic in PLAIN_FLOW}
    assert deliveries_by_document(receiver) == expected
    assert files_on_disk(Path(worker_host["DOCHOOKS_DATA_DIR"])) == []
    assert "Traceback" not in (tmp_path / "worker-host" / "worker.log").read_text()


def test_two_serve_processes_on_one_database_process_each_document_once_and_deliver_each_topic_once(
    pg_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    services = [Served(pg_url, tmp_path / name, **host(tmp_path, name)) for name in ("host-a", "host-b")]
    for service in services:
        service.start()
    try:
        acme = tenant(pg_url, "acme", services[0].env)
        apis = [Api(service.base, str(acme["token"])) for service in services]
        assert apis[0].call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/all"), list(PLAIN_FLOW)))[0] == 201
        uploaded = []
        for n in range(20):
            status, doc = apis[n % 2].call("POST", "/v1/documents", document_doc(f"Invoice {n}".encode()))
            assert status == 201, doc
            uploaded.append(int(doc["data"]["id"]))
        # Every (document, topic) by distinct request id: a resend of a delivery a killed process
        # sent but never recorded arrives again with its request id, and must not count.
        pairs = {(str(doc_id), topic) for doc_id in uploaded for topic in PLAIN_FLOW}
        wait_until(lambda: set(deliveries_by_document(receiver)) >= pairs, 90)
        wait_until(lambda: all(s == "done" for s, _ in statuses(pg_url).values()), 30)
        for api in apis:  # each answers for every document, whichever host took it
            _, listed = api.call("GET", "/v1/documents?page[size]=50")
            assert {int(d["id"]) for d in listed["data"]} == set(uploaded)
    finally:
        for service in services:
            service.stop()
    assert statuses(pg_url) == {doc_id: ("done", f"Invoice {n}") for n, doc_id in enumerate(uploaded)}
    assert deliveries_by_document(receiver) == {(str(d), topic): 1 for d in uploaded for topic in PLAIN_FLOW}
    assert len(receiver.at("/ok/all")) == len(uploaded) * len(PLAIN_FLOW)  # no request repeated either
    for name in ("host-a", "host-b"):
        assert files_on_disk(tmp_path / name / "data") == []
