"""The document workflow through the API, on SQLite and PostgreSQL, with a webhook
subscribed to every topic and a real receiver on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.topics import TOPICS
from tests.factories.clients import Api, document_doc, multipart, webhook_doc
from tests.factories.documents import PLAIN_FLOW, make_pdf
from tests.factories.peers import Receiver
from tests.factories.stores import make_tenant


@pytest.fixture
def api(service: str, acme: NewTenant, receiver: Receiver) -> Api:
    client = Api(service, acme.token)
    status, _ = client.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/all"), [t.value for t in TOPICS]))
    assert status == 201
    return client


def upload(api: Api, content: bytes, **attributes: Any) -> dict[str, Any]:
    status, body = api.call("POST", "/v1/documents", document_doc(content, **attributes))
    assert status == 201, body
    return body["data"]  # type: ignore[no-any-return]


def payloads(receiver: Receiver, doc_id: str) -> list[dict[str, Any]]:
    found = [json.loads(r.body) for r in receiver.at("/ok/all")]
    return [p for p in found if p["id"] == doc_id]


def wait_for_topic(receiver: Receiver, doc_id: str, topic: str, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = payloads(receiver, doc_id)
        if any(p["topic"] == topic for p in got):
            return got
        time.sleep(0.02)
    raise AssertionError(f"no {topic} for document {doc_id}; saw {[p['topic'] for p in payloads(receiver, doc_id)]}")


def settle(api: Api, doc_id: str, timeout: float = 20) -> None:
    """Wait until nothing more can arrive: the document is done (no topic left to publish)
    and none of the webhook's deliveries is pending (due, claimed or in flight). The
    receiver notes a request before answering it, and a delivery is recorded only after."""
    (hook,) = api.call("GET", "/v1/webhooks")[1]["data"]
    deadline = time.monotonic() + timeout
    while True:
        done = api.call("GET", f"/v1/documents/{doc_id}")[1]["data"]["attributes"]["status"] == "done"
        pending = api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries?filter[status]=pending")[1]["data"]
        if done and not pending:
            return
        assert time.monotonic() < deadline, f"still pending: {[d['attributes']['topic'] for d in pending]}"
        time.sleep(0.02)


def test_a_plain_upload_runs_every_stage_and_delivers_each_topic_once(
    api: Api, receiver: Receiver, acme: NewTenant
) -> None:
    doc = upload(api, b"Invoice 1\n", external_id="EX-1", custom_fields={"a": "b"}, name="one.txt")
    assert doc["attributes"]["status"] == "pending" and doc["attributes"]["workflow_step"] == "inbound"
    settle(api, doc["id"])
    got = sorted(payloads(receiver, doc["id"]), key=lambda p: PLAIN_FLOW.index(p["topic"]))
    assert tuple(p["topic"] for p in got) == PLAIN_FLOW
    for p in got:
        attrs = p["attributes"]
        assert attrs["document_id"] == int(doc["id"]) and attrs["external_id"] == "EX-1"
        assert attrs["custom_fields"] == {"a": "b"} and attrs["tenant_id"] == acme.tenant_id
    statuses = {p["topic"]: p["attributes"]["status"] for p in got}
    assert statuses["document-received"] == "pending" and statuses["processing-finished"] == "done"
    assert {statuses[t] for t in PLAIN_FLOW[1:-1]} == {"in_progress"}
    _, shown = api.call("GET", f"/v1/documents/{doc['id']}")
    assert (
        shown["data"]["attributes"]["status"] == "done" and shown["data"]["attributes"]["workflow_step"] == "outbound"
    )
    _, events = api.call("GET", f"/v1/documents/{doc['id']}/events")
    assert tuple(e["attributes"]["topic"] for e in events["data"]) == PLAIN_FLOW


def test_validation_levels_hold_the_document_until_validated(api: Api, receiver: Receiver) -> None:
    levels = {"separation": ["first-level"], "classification": [], "extraction": ["second-level", "qc"]}
    status, body = api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": levels}})
    assert status == 200 and body["data"]["attributes"]["extraction"] == ["second-level", "qc"]
    doc = upload(api, b"Invoice 2\n")
    waits = []
    for topic in ("ready-for-separation-first-level", "ready-for-extraction-second-level", "ready-for-extraction-qc"):
        wait_for_topic(receiver, doc["id"], topic)
        time.sleep(0.1)  # it stays put
        _, shown = api.call("GET", f"/v1/documents/{doc['id']}")
        attrs = shown["data"]["attributes"]
        waits.append((attrs["pending_validation"], attrs["status"]))
        assert api.call("POST", f"/v1/documents/{doc['id']}/validations", {"data": {"type": "validations"}})[0] == 200
    assert waits == [
        ("ready-for-separation-first-level", "in_progress"),
        ("ready-for-extraction-second-level", "in_progress"),
        ("ready-for-extraction-qc", "in_progress"),
    ]
    wait_for_topic(receiver, doc["id"], "processing-finished")
    status, conflict = api.call("POST", f"/v1/documents/{doc['id']}/validations", {"data": {"type": "validations"}})
    assert status == 409 and conflict["errors"][0]["status"] == "409"


def test_classification_and_extraction_follow_the_tenants_rules_and_corrections(api: Api, receiver: Receiver) -> None:
    rules = {
        "classification": ["first-level"],
        "classification_rules": {"invoice": ["invoice", "total"], "letter": ["dear"]},
        "extraction_rules": {"invoice": {"total": r"total:\s*(\S+)"}},
        "extraction": ["first-level"],
    }
    assert api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": rules}})[0] == 200
    doc = upload(api, make_pdf("Dear reader", "Invoice 7 Total: 42.00 total"))
    wait_for_topic(receiver, doc["id"], "ready-for-classification-first-level")
    assert api.call("GET", f"/v1/documents/{doc['id']}")[1]["data"]["attributes"]["document_type"] == "invoice"
    fixed = {"data": {"type": "validations", "attributes": {"document_type": "invoice"}}}
    assert api.call("POST", f"/v1/documents/{doc['id']}/validations", fixed)[0] == 200
    wait_for_topic(receiver, doc["id"], "ready-for-extraction-first-level")
    correct = {"data": {"type": "validations", "attributes": {"fields": {"currency": "CHF"}}}}
    _, done = api.call("POST", f"/v1/documents/{doc['id']}/validations", correct)
    attrs = done["data"]["attributes"]
    assert attrs["extracted_fields"] == {"total": "42.00", "currency": "CHF"}
    assert attrs["file_type"] == "pdf" and attrs["page_count"] == 2
    wait_for_topic(receiver, doc["id"], "processing-finished")
    assert all("42.00" not in json.dumps(p) for p in payloads(receiver, doc["id"]))


@pytest.mark.parametrize("content", [make_pdf("x")[:60], b"", b"\x00\x01binary"])
def test_an_unreadable_file_ends_in_processing_failed(api: Api, receiver: Receiver, content: bytes) -> None:
    doc = upload(api, content)
    wait_for_topic(receiver, doc["id"], "processing-failed")
    # Both topics commit in one batch, so their deliveries are due together and may arrive
    # in either order: webhooks promise at least once, not order.
    got = wait_for_topic(receiver, doc["id"], "document-received")
    assert sorted(p["topic"] for p in got) == ["document-received", "processing-failed"]
    got.sort(key=lambda p: p["topic"] != "document-received")
    assert got[-1]["attributes"]["status"] == "failed"
    _, shown = api.call("GET", f"/v1/documents/{doc['id']}")
    assert shown["data"]["attributes"]["status"] == "failed" and shown["data"]["attributes"]["error"]


def test_multipart_uploads_are_accepted(api: Api, receiver: Receiver) -> None:
    raw, kind = multipart(
        ("file", "note.txt", b"Hello multipart"), ("external_id", None, b"MP-1"), ("custom_fields", None, b'{"k": 1}')
    )
    status, body = api.call("POST", "/v1/documents", raw=raw, content_type=kind)
    assert status == 201, body
    attrs = body["data"]["attributes"]
    assert attrs["external_id"] == "MP-1" and attrs["custom_fields"] == {"k": 1}
    assert attrs["name"] == "note.txt"  # the file's name, when no name is given
    wait_for_topic(receiver, body["data"]["id"], "processing-finished")


def test_errors_say_what_to_do_for_a_flat_body_and_a_form_without_a_file(api: Api) -> None:
    flat = {"name": "orders", "url": "https://example.com/hooks", "topics": ["document-received"]}
    status, body = api.call("POST", "/v1/webhooks", flat)
    (error,) = body["errors"]  # one error that shows the wrapper, not one per attribute
    assert status == 422 and error["title"] == "Not a JSON:API document" and error["source"]["pointer"] == "/data"
    assert '{"data": {"type": "webhooks", "attributes": {...}}}' in error["detail"]
    assert "name, url, topics belong in data.attributes" in error["detail"]
    status, body = api.call("POST", "/v1/documents", {"files": [{"base64_file": "eA=="}]})
    assert status == 422 and '{"data": {"type": "documents"' in body["errors"][0]["detail"]
    raw, kind = multipart(("document", "note.txt", b"Hello"), ("name", None, b"n"))
    status, body = api.call("POST", "/v1/documents", raw=raw, content_type=kind)
    (error,) = body["errors"]
    assert status == 422 and "form field `file`" in error["detail"] and "source" not in error


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"data": {"type": "documents", "attributes": {"files": [{"base64_file": "not base64!"}]}}}, 422),
        ({"data": {"type": "documents", "attributes": {"files": []}}}, 422),
        ({"data": {"type": "documents", "attributes": {}}}, 422),
        (document_doc(b"x", custom_fields=["not", "an", "object"]), 422),
        (document_doc(b"x", custom_fields="text"), 422),
        ({"data": {"type": "webhooks", "attributes": {"files": [{"base64_file": "eA=="}]}}}, 422),
        (document_doc(b"x", external_id="e" * 300), 422),
    ],
)
def test_bad_uploads_get_4xx_and_create_nothing(api: Api, runtime: Runtime, body: dict[str, Any], status: int) -> None:
    got, error = api.call("POST", "/v1/documents", body)
    assert got == status and error["errors"][0]["status"] == str(status)
    _assert_nothing_created(api, runtime.settings.data_dir)


def _assert_nothing_created(api: Api, data_dir: Path) -> None:
    assert api.call("GET", "/v1/documents")[1]["meta"]["total"] == 0
    assert not list((data_dir / "documents").rglob("*")) if (data_dir / "documents").exists() else True


def test_malformed_json_wrong_media_type_and_oversize_are_refused(
    service: str, acme: NewTenant, runtime: Runtime
) -> None:
    api = Api(service, acme.token)
    assert api.call("POST", "/v1/documents", raw=b"{oops")[0] == 400
    assert api.call("POST", "/v1/documents", raw=b"hello", content_type="text/plain")[0] == 415
    bad_form, kind = multipart(("file", "a", b"x"), ("custom_fields", None, b"[1]"))
    assert api.call("POST", "/v1/documents", raw=bad_form, content_type=kind)[0] == 422
    too_big = runtime.settings.max_upload_bytes + 1
    status, body = api.call("POST", "/v1/documents", document_doc(b"x" * too_big))
    assert status == 413 and body["errors"][0]["status"] == "413"
    _assert_nothing_created(api, runtime.settings.data_dir)


def test_filters_find_exactly_the_right_documents(api: Api, receiver: Receiver, runtime: Runtime) -> None:
    first = upload(api, b"a", external_id="F-1")
    wait_for_topic(receiver, first["id"], "processing-finished")
    middle = time.time()
    time.sleep(0.05)
    assert (
        api.call(
            "PUT",
            "/v1/workflow",
            {"data": {"type": "workflows", "attributes": {"separation": ["qc"], "processing_target_seconds": 1}}},
        )[0]
        == 200
    )
    waiting = upload(api, b"b", external_id="F-2")
    broken = upload(api, b"", external_id="F-3")
    wait_for_topic(receiver, waiting["id"], "ready-for-separation-qc")
    wait_for_topic(receiver, broken["id"], "processing-failed")

    def ids(query: str) -> list[str]:
        status, body = api.call("GET", "/v1/documents?" + query)
        assert status == 200, body
        return sorted(d["id"] for d in body["data"])

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(middle)) + f".{int(middle * 1000) % 1000:03d}Z"
    assert ids("filter[status]=done") == [first["id"]]
    assert ids("filter[status]=in_progress,failed") == sorted([waiting["id"], broken["id"]])
    assert ids("filter[external_id]=F-2") == [waiting["id"]]
    assert ids(f"filter[updated_after]={stamp}") == sorted([waiting["id"], broken["id"]])
    assert ids(f"filter[updated_before]={stamp}") == [first["id"]]
    assert waiting["attributes"]["sla_deadline"] is not None and first["attributes"]["sla_deadline"] is None
    assert ids("filter[overdue]=true") == []
    time.sleep(1.1)
    assert ids("filter[overdue]=true") == [waiting["id"]]
    assert ids("filter[older_than]=0") == [waiting["id"]]
    _, page = api.call("GET", "/v1/documents?page[size]=2&page[number]=2")
    assert len(page["data"]) == 1 and page["meta"]["total"] == 3 and "prev" in page["links"]
    assert api.call("GET", "/v1/documents?filter[updated_after]=yesterday")[0] == 400
    assert api.call("GET", "/v1/documents?filter[status]=lost")[0] == 400


def test_workflow_levels_are_validated(api: Api) -> None:
    for attributes in (
        {"separation": ["qc", "first-level"]},
        {"classification": ["fourth-level"]},
        {"extraction_rules": {"x": {"f": "("}}},
    ):
        status, body = api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": attributes}})
        assert status == 422 and body["errors"][0]["source"]["pointer"].startswith("/data/attributes/"), attributes
    _, shown = api.call("GET", "/v1/workflow")
    assert shown["data"]["attributes"]["separation"] == []


def test_a_tenants_document_retention_is_kept_bounded_and_can_go_back_to_the_default(api: Api) -> None:
    def put(days: object) -> tuple[int, dict]:  # type: ignore[type-arg]
        doc = {"data": {"type": "workflows", "attributes": {"document_retention_days": days}}}
        return api.call("PUT", "/v1/workflow", doc)  # type: ignore[return-value]

    assert api.call("GET", "/v1/workflow")[1]["data"]["attributes"]["document_retention_days"] is None
    assert put(90)[0] == 200
    for refused in (-1, 3651, "soon"):
        status, body = put(refused)
        assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/attributes/document_retention_days"
    assert api.call("GET", "/v1/workflow")[1]["data"]["attributes"]["document_retention_days"] == 90
    assert put(None)[1]["data"]["attributes"]["document_retention_days"] is None


@pytest.mark.parametrize(
    ("rules", "pointer"),
    [
        ({"extraction_rules": {"invoice": {"total": "a{99999999}"}}}, "extraction_rules/invoice/total"),
        ({"extraction_rules": {"invoice": {"total": "(?:x{100}){100}"}}}, "extraction_rules/invoice/total"),
        ({"extraction_rules": {"invoice": {"total": "(?x)a{ 99999999 }"}}}, "extraction_rules/invoice/total"),
        ({"extraction_rules": {"invoice": {"total": "(" * 50 + "a" + ")" * 50}}}, "extraction_rules/invoice/total"),
        ({"extraction_rules": {"invoice": {f"f{i}": "a" for i in range(51)}}}, "extraction_rules/invoice"),
        ({"extraction_rules": {f"t{i}": {"f": "a"} for i in range(101)}}, "extraction_rules"),
        ({"extraction_rules": {f"t{i}": {"f": "(?:a{1000}){2}"} for i in range(30)}}, "extraction_rules/t20/f"),
        ({"classification_rules": {f"t{i}": ["k"] * 11 for i in range(100)}}, "classification_rules"),
        ({"classification_rules": {f"t{i}": ["k"] for i in range(101)}}, "classification_rules"),
        ({"classification_rules": {"invoice": ["k" * 201]}}, "classification_rules/invoice"),
    ],
)
def test_workflow_rules_that_would_cost_too_much_are_refused_at_once_by_their_attribute(
    api: Api, rules: dict[str, Any], pointer: str
) -> None:
    started = time.monotonic()
    status, body = api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": rules}})
    assert status == 422 and body["errors"][0]["source"]["pointer"] == f"/data/attributes/{pointer}", body
    assert time.monotonic() - started < 2
    _, shown = api.call("GET", "/v1/workflow")
    assert (
        shown["data"]["attributes"]["extraction_rules"] == {}
        and shown["data"]["attributes"]["classification_rules"] == {}
    )


def test_rules_at_their_limits_are_kept_and_run(api: Api, receiver: Receiver) -> None:
    rules = {
        "classification_rules": {"invoice": ["invoice"] * 10, **{f"t{i}": ["zz"] * 10 for i in range(99)}},
        "extraction_rules": {"invoice": {"total": "Total:\\s*(\\S+)", **{f"f{i}": "q{1000}" for i in range(19)}}},
    }
    status, body = api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": rules}})
    assert status == 200, body
    doc = upload(api, b"Invoice 7\nTotal: 12.50\n")
    wait_for_topic(receiver, doc["id"], "processing-finished")
    _, shown = api.call("GET", f"/v1/documents/{doc['id']}")
    assert shown["data"]["attributes"]["document_type"] == "invoice"
    assert shown["data"]["attributes"]["extracted_fields"] == {"total": "12.50"}


def test_rules_can_be_cleared_and_each_tenant_has_its_own_workflow(api: Api, runtime: Runtime) -> None:
    rules = {"classification_rules": {"invoice": ["invoice"]}, "separation": ["qc"], "processing_target_seconds": 60}
    assert api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": rules}})[0] == 200
    other = Api(api.base, make_tenant(runtime.db, "other").token)
    _, theirs = other.call("GET", "/v1/workflow")
    assert (
        theirs["data"]["attributes"]["separation"] == [] and theirs["data"]["attributes"]["classification_rules"] == {}
    )
    cleared = {"classification_rules": {}, "processing_target_seconds": None}
    _, mine = api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": cleared}})
    attrs = mine["data"]["attributes"]
    assert attrs["classification_rules"] == {} and attrs["processing_target_seconds"] is None
    assert attrs["separation"] == ["qc"]
    too_long = {"processing_target_seconds": 10**16}
    assert api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": too_long}})[0] == 422


def test_paging_links_keep_the_filters(api: Api, receiver: Receiver) -> None:
    for n in range(3):
        upload(api, b"x", external_id=f"L-{n % 2}")
    _, page = api.call("GET", "/v1/documents?filter[external_id]=L-0&page[size]=1")
    assert page["meta"]["total"] == 2
    _, following = api.call("GET", page["links"]["next"])
    assert [d["attributes"]["external_id"] for d in following["data"]] == ["L-0"]


def test_a_stale_view_of_a_document_cannot_move_it_twice(
    api: Api, receiver: Receiver, runtime: Runtime, acme: NewTenant
) -> None:
    """Two validations racing: the second one's transition, computed from what it read
    before the first committed, must not apply (nor publish its topics)."""
    from dochooks.documents import store, workflow

    api.call(
        "PUT",
        "/v1/workflow",
        {
            "data": {
                "type": "workflows",
                "attributes": {"separation": ["first-level"], "classification": ["first-level"]},
            }
        },
    )
    doc = upload(api, b"race")
    wait_for_topic(receiver, doc["id"], "ready-for-separation-first-level")
    with runtime.db.read() as conn:
        stale = store.get_document(conn, acme.tenant_id, int(doc["id"]))
    assert api.call("POST", f"/v1/documents/{doc['id']}/validations", {"data": {"type": "validations"}})[0] == 200
    wait_for_topic(receiver, doc["id"], "ready-for-classification-first-level")
    with runtime.db.transaction() as conn:
        late = workflow.after_validation("separation", "first-level", ("first-level",), {})
        assert store.apply(conn, stale, [late], runtime.clock.now_ms()) is None
    _, events = api.call("GET", f"/v1/documents/{doc['id']}/events")
    topics = [e["attributes"]["topic"] for e in events["data"]]
    assert topics.count("separation-done") == 1 and topics[-1] == "ready-for-classification-first-level"


def test_include_adds_the_extracted_fields_and_the_classification_as_included_resources(
    api: Api, receiver: Receiver, runtime: Runtime
) -> None:
    rules = {
        "classification_rules": {"invoice": ["invoice", "total"], "letter": ["dear"]},
        "extraction_rules": {"invoice": {"total": r"Total:\s*(\S+)", "number": r"Invoice\s+(\d+)"}},
        "extraction": ["qc"],
    }
    assert api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": rules}})[0] == 200
    doc = upload(api, make_pdf("Invoice 4711", "Total: 118.00 CHF"))
    path = f"/v1/documents/{doc['id']}"
    wait_for_topic(receiver, doc["id"], "ready-for-extraction-qc")

    _, waiting = api.call("GET", f"{path}?include=fields,classification")
    assert waiting["data"]["relationships"]["fields"]["meta"] == {"status": "validating"}
    assert waiting["data"]["relationships"]["classification"] == {"data": {"type": "classifications", "id": doc["id"]}}
    by_type = {(r["type"], r["id"]): r["attributes"] for r in waiting["included"]}
    assert by_type == {
        ("fields", f"{doc['id']}-total"): {"name": "total", "value": "118.00"},
        ("fields", f"{doc['id']}-number"): {"name": "number", "value": "4711"},
        ("classifications", doc["id"]): {"document_type": "invoice", "status": "done"},
    }
    # full linkage: every included resource is named by the document's relationships
    linked = [(i["type"], i["id"]) for i in waiting["data"]["relationships"]["fields"]["data"]]
    assert sorted(linked) == sorted(k for k in by_type if k[0] == "fields")

    fix = {"data": {"type": "validations", "attributes": {"fields": {"total": "120.00"}}}}
    assert api.call("POST", f"{path}/validations", fix)[0] == 200
    wait_for_topic(receiver, doc["id"], "processing-finished")
    _, done = api.call("GET", f"{path}?include=fields")
    assert done["data"]["relationships"]["fields"]["meta"] == {"status": "done"}
    assert "classification" not in done["data"]["relationships"]  # only what was asked for
    assert {r["attributes"]["name"]: r["attributes"]["value"] for r in done["included"]} == {
        "total": "120.00",
        "number": "4711",
    }
    assert {r["type"] for r in done["included"]} == {"fields"}

    _, plain = api.call("GET", path)  # without include the document is as before
    assert "included" not in plain and "relationships" not in plain["data"]

    other = Api(api.base, make_tenant(runtime.db, "other").token)
    status, hidden = other.call("GET", f"{path}?include=fields,classification")
    assert status == 404 and "included" not in hidden


def test_include_on_the_list_adds_each_documents_resources_and_says_which_stage_is_not_there_yet(
    api: Api, receiver: Receiver
) -> None:
    rules = {
        "classification_rules": {"invoice": ["invoice"]},
        "extraction_rules": {"invoice": {"total": r"Total:\s*(\S+)"}},
    }
    assert api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": rules}})[0] == 200
    invoice = upload(api, b"Invoice 9\nTotal: 7.50\n", external_id="L-1")
    note = upload(api, b"just a note\n", external_id="L-1")
    broken = upload(api, b"", external_id="L-1")
    for doc, topic in ((invoice, "processing-finished"), (note, "processing-finished"), (broken, "processing-failed")):
        wait_for_topic(receiver, doc["id"], topic)
    status, page = api.call("GET", "/v1/documents?filter[external_id]=L-1&include=classification,fields")
    assert status == 200, page
    relationships = {d["id"]: d["relationships"] for d in page["data"]}
    assert relationships[note["id"]]["fields"] == {"data": [], "meta": {"status": "done"}}
    assert relationships[broken["id"]]["fields"] == {"data": [], "meta": {"status": "failed"}}
    included = {(r["type"], r["id"]): r["attributes"] for r in page["included"]}
    assert included == {
        ("fields", f"{invoice['id']}-total"): {"name": "total", "value": "7.50"},
        ("classifications", invoice["id"]): {"document_type": "invoice", "status": "done"},
        ("classifications", note["id"]): {"document_type": None, "status": "done"},  # no rule matched: final
        ("classifications", broken["id"]): {"document_type": None, "status": "failed"},
    }
    _, one = api.call("GET", "/v1/documents?filter[external_id]=L-1&page[size]=1&include=fields")
    assert len(one["data"]) == 1 and "include=fields" in one["links"]["next"]  # the next page keeps it
    assert all(r["id"].startswith(f"{one['data'][0]['id']}-") for r in one["included"])


@pytest.mark.parametrize("include", ["files", "fields,owner", "fields.document", "f" * 201])
def test_include_refuses_what_it_cannot_include_by_the_parameters_name(api: Api, include: str) -> None:
    doc = upload(api, b"Invoice 1\n")
    for path in (f"/v1/documents/{doc['id']}", "/v1/documents"):
        status, body = api.call("GET", f"{path}?include={include}")
        (error,) = body["errors"]
        assert status == 400 and error["source"] == {"parameter": "include"}, body
        if len(include) <= 200:
            assert "include takes fields, classification" in error["detail"]
            assert error["detail"].endswith("not " + ", ".join(sorted(set(include.split(",")) - {"fields"})))
