"""The workflow runner's batches, on SQLite and PostgreSQL: one claim and one commit take
each document of a batch as far as it can go, every topic in order, and a document that
changed hands meanwhile is left as the other worker made it."""

from __future__ import annotations

import io

import orjson
import pytest

from dochooks.documents import config as workflow_config
from dochooks.documents import runner as runner_module
from dochooks.documents import store
from dochooks.documents.files import Staging
from dochooks.documents.runner import LEASE_MS, WorkflowRunner
from dochooks.runtime import Runtime
from tests.factories.documents import PLAIN_FLOW
from tests.factories.stores import make_tenant

WAITS_FOR_CLASSIFICATION = (
    *PLAIN_FLOW[:5],  # received .. automatic-classification-done
    "ready-for-classification-first-level",
)


def upload(rt: Runtime, tenant_id: int, content: bytes) -> int:
    with Staging(rt.settings.data_dir, tenant_id, limit_bytes=1 << 20) as staging:
        files = staging.store([staging.copy(io.BytesIO(content))])
    with rt.db.transaction() as conn:
        doc = store.create_document(
            conn,
            tenant_id=tenant_id,
            name=None,
            external_id=None,
            custom_fields={"n": content.decode(errors="replace")},
            files=files,
            sla_deadline=None,
            now_ms=rt.clock.now_ms(),
        )
    return doc.id


def claim(rt: Runtime, runner: WorkflowRunner) -> list[int]:
    with rt.db.transaction() as conn:
        claimed = store.claim_due(conn, worker=runner.worker_id, now_ms=rt.clock.now_ms(), lease_ms=LEASE_MS, limit=99)
    return sorted(doc_id for doc_id, _ in claimed)


def events(rt: Runtime, doc_id: int) -> list[tuple[str, dict[str, object]]]:
    with rt.db.read() as conn:
        rows = conn.all("SELECT topic, payload FROM events WHERE document_id = :d ORDER BY id", {"d": doc_id})
    return [(r["topic"], orjson.loads(r["payload"])) for r in rows]


def lease_of(rt: Runtime, doc_id: int) -> tuple[object, object]:
    with rt.db.read() as conn:
        row = conn.one("SELECT run_at, locked_by FROM documents WHERE id = :d", {"d": doc_id})
    assert row is not None
    return row["run_at"], row["locked_by"]


def test_one_batch_takes_each_document_as_far_as_it_can_go(runtime: Runtime) -> None:
    plain, careful = make_tenant(runtime.db, "plain"), make_tenant(runtime.db, "careful")
    with runtime.db.transaction() as conn:
        levels = workflow_config.merged({"classification": ("first-level",)}, workflow_config.WorkflowConfig())
        workflow_config.save(conn, careful.tenant_id, levels, runtime.clock.now_ms())
    finishing = [upload(runtime, plain.tenant_id, b"Invoice %d\n" % n) for n in range(3)]
    waiting = upload(runtime, careful.tenant_id, b"Invoice 9\n")
    failing = upload(runtime, plain.tenant_id, b"")  # an empty file cannot be read
    runner = WorkflowRunner(runtime)

    assert claim(runtime, runner) == sorted([*finishing, waiting, failing])
    runner.advance([*finishing, waiting, failing])

    for doc_id in finishing:
        got = events(runtime, doc_id)
        assert tuple(topic for topic, _ in got) == PLAIN_FLOW
        statuses = [payload["attributes"]["status"] for _, payload in got]  # type: ignore[index]
        assert statuses == ["pending", *["in_progress"] * 7, "done"]
        assert lease_of(runtime, doc_id) == (None, None)
    assert tuple(topic for topic, _ in events(runtime, waiting)) == WAITS_FOR_CLASSIFICATION
    assert lease_of(runtime, waiting) == (None, None)  # a person's turn: nothing automatic is due
    assert [topic for topic, _ in events(runtime, failing)] == ["document-received", "processing-failed"]
    with runtime.db.read() as conn:
        assert store.get_document(conn, plain.tenant_id, finishing[0]).status == "done"
        assert store.get_document(conn, careful.tenant_id, waiting).pending_validation == WAITS_FOR_CLASSIFICATION[-1]


def test_a_document_that_changed_hands_meanwhile_keeps_the_other_workers_change(runtime: Runtime) -> None:
    """Our lease ran out while the batch ran and another worker took the document: our
    result for it is dropped, with its topics; the rest of the batch commits."""
    tenant = make_tenant(runtime.db, "acme")
    ours, taken = upload(runtime, tenant.tenant_id, b"Invoice 1\n"), upload(runtime, tenant.tenant_id, b"Invoice 2\n")
    runner = WorkflowRunner(runtime)
    assert claim(runtime, runner) == [ours, taken]
    with runtime.db.transaction() as conn:
        conn.run("UPDATE documents SET locked_by = 'another worker' WHERE id = :d", {"d": taken})

    runner.advance([ours, taken])

    assert tuple(topic for topic, _ in events(runtime, ours)) == PLAIN_FLOW
    assert [topic for topic, _ in events(runtime, taken)] == ["document-received"]
    assert lease_of(runtime, taken)[1] == "another worker"


def test_a_long_walk_is_committed_in_parts_and_picked_up_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past CHAIN steps the batch commits where the document got to and leaves it due."""
    monkeypatch.setattr(runner_module, "CHAIN", 2)
    tenant = make_tenant(runtime.db, "acme")
    doc_id = upload(runtime, tenant.tenant_id, b"Invoice 1\n")
    runner = WorkflowRunner(runtime)

    walked: list[tuple[str, bool]] = []  # the last topic of each batch, and whether work is due after it
    for _ in range(3):
        assert claim(runtime, runner) == [doc_id]
        runner.advance([doc_id])
        run_at, locked_by = lease_of(runtime, doc_id)
        assert locked_by is None
        walked.append((events(runtime, doc_id)[-1][0], run_at is not None))
    assert walked == [("separation-done", True), ("extraction-done", True), ("processing-finished", False)]
    assert tuple(topic for topic, _ in events(runtime, doc_id)) == PLAIN_FLOW
    assert claim(runtime, runner) == []
