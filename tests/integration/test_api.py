"""The HTTP API over real HTTP, on SQLite and PostgreSQL, with a real receiver on loopback."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from dochooks.documents.uploads import MAX_CUSTOM_FIELDS_DEPTH
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from dochooks.topics import TOPICS
from tests.factories.clients import Api, WebClient, document_doc, live_service, multipart, webhook_doc
from tests.factories.peers import Receiver, running_receiver
from tests.factories.reference import ATTRIBUTES
from tests.factories.stores import make_settings, make_tenant
from tests.unit.test_url_safety import MALFORMED, REFUSED
from tests.unit.test_webhook_config import CONTROL_CHARACTERS


@pytest.fixture
def api(service: str, acme: NewTenant) -> Api:
    return Api(service, acme.token)


def create_hook(api: Api, url: str, **attributes: object) -> dict:  # type: ignore[type-arg]
    status, body = api.call("POST", "/v1/webhooks", webhook_doc(url, **attributes))
    assert status == 201, body
    return body["data"]  # type: ignore[no-any-return]


def wait_for_status(api: Api, delivery_id: str, status: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, body = api.call("GET", f"/v1/deliveries/{delivery_id}")
        if body["data"]["attributes"]["status"] == status:
            return body["data"]  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"delivery {delivery_id} never became {status}")


def test_every_v1_route_wants_a_valid_bearer_token(runtime: Runtime) -> None:
    # A wrong token per route: more than an address's burst of failed authentications.
    with live_service(runtime.tuned(auth_failure_burst=1000)) as service:
        spec = Api(service).call("GET", "/openapi.json")[1]
        # Every route as the service itself lists them, not a list kept by hand beside it.
        routes = sorted((m.upper(), p) for p, ops in spec["paths"].items() if p.startswith("/v1/") for m in ops)
        assert len(routes) >= 20 and ("POST", "/v1/webhooks/{webhook_id}/secret/rotate") in routes
        for method, template in routes:
            path = re.sub(r"\{\w+\}", "1", template)
            for token in (None, "dh_not-a-real-token"):
                body = {} if method in ("POST", "PATCH", "PUT") else None
                status, answer = Api(service, token).call(method, path, body)
                assert status == 401, (method, path, token, answer)
                assert answer["errors"][0]["status"] == "401"


def test_topics_are_the_22_of_the_reference_and_the_operational_ones_on_asking(api: Api) -> None:
    status, body = api.call("GET", "/v1/topics")
    assert status == 200
    workflow = [t["id"] for t in body["data"]]
    assert workflow == [t.value for t in TOPICS] and len(workflow) == 22  # the contract: the reference's table
    assert {t["attributes"]["kind"] for t in body["data"]} == {"workflow"}
    assert body["data"][0] == {
        "type": "topics",
        "id": "document-received",
        "attributes": {"title": "DOCUMENT RECEIVED", "stage": "inbound", "kind": "workflow"},
    }
    status, body = api.call("GET", "/v1/topics?filter[kind]=operational")
    assert status == 200
    operational = [t["id"] for t in body["data"]]
    assert operational == ["webhook-failing", "webhook-disabled", "webhook-recovered", "delivery-exhausted"]
    assert body["data"][-1] == {
        "type": "topics",
        "id": "delivery-exhausted",
        "attributes": {"title": "DELIVERY EXHAUSTED", "stage": None, "kind": "operational"},
    }
    status, body = api.call("GET", "/v1/topics?filter[kind]=operational,workflow")
    assert status == 200
    assert [t["id"] for t in body["data"]] == workflow + operational  # workflow first, whatever the order asked


@pytest.mark.parametrize("kinds", ["document", "workflow,", "", "workflow,other"])
def test_topics_of_an_unknown_kind_are_a_400_naming_the_filter(api: Api, kinds: str) -> None:
    status, body = api.call("GET", f"/v1/topics?filter[kind]={kinds}")
    assert status == 400
    (error,) = body["errors"]
    assert error["source"] == {"parameter": "filter[kind]"}


def test_a_webhook_shows_its_secret_when_made_or_asked_for_and_its_header_values_never(
    api: Api, receiver: Receiver
) -> None:
    created = create_hook(api, receiver.url("/ok/h"), headers={"Authorization": "Bearer top-secret-value-1234"})
    attrs = created["attributes"]
    assert attrs["secret"].startswith("whsec_") and len(attrs["secret"]) > 30
    assert "top-secret" not in json.dumps(created)
    assert attrs["headers"]["Authorization"].endswith("1234")
    _, shown = api.call("GET", f"/v1/webhooks/{created['id']}")
    _, listed = api.call("GET", "/v1/webhooks")
    for doc in (shown["data"], listed["data"][0]):
        assert doc["attributes"]["secret"] != attrs["secret"] and "top-secret" not in json.dumps(doc)
    assert attrs["topics"] == ["document-received"] and attrs["enabled"] is True
    status, revealed = api.call("GET", f"/v1/webhooks/{created['id']}/secret")
    assert status == 200 and revealed["data"]["attributes"]["secret"] == attrs["secret"]
    assert "top-secret" not in json.dumps(revealed)


def test_plain_application_json_is_accepted_and_other_media_types_refused(api: Api, receiver: Receiver) -> None:
    body = json.dumps(webhook_doc(receiver.url("/ok/j"))).encode()
    assert api.call("POST", "/v1/webhooks", raw=body, content_type="application/json")[0] == 201
    status, doc = api.call("POST", "/v1/webhooks", raw=body, content_type="text/plain")
    assert status == 415 and doc["errors"][0]["status"] == "415"


@pytest.mark.parametrize(
    ("raw", "status", "pointer"),
    [
        (b"{not json", 400, None),
        (b"", 400, None),
        (json.dumps({"data": {"type": "documents", "attributes": {}}}).encode(), 422, "/data/type"),
        (json.dumps(webhook_doc("http://127.0.0.1:9/", ["document-lost"])).encode(), 422, "/data/attributes/topics"),
        (json.dumps(webhook_doc("http://127.0.0.1:9/", enabled="yes")).encode(), 422, "/data/attributes/enabled"),
        (json.dumps(webhook_doc("http://127.0.0.1:9/", nmae="typo")).encode(), 422, "/data/attributes/nmae"),
        (json.dumps(webhook_doc("ftp://127.0.0.1/")).encode(), 422, "/data/attributes/url"),
        (
            json.dumps(webhook_doc("http://127.0.0.1:9/", headers={"Host": "x"})).encode(),
            422,
            "/data/attributes/headers/Host",
        ),
        (json.dumps({"data": []}).encode(), 422, "/data"),
    ],
)
def test_bad_bodies_get_a_json_api_error_with_a_pointer(api: Api, raw: bytes, status: int, pointer: str | None) -> None:
    got, body = api.call("POST", "/v1/webhooks", raw=raw)
    assert got == status, body
    error = body["errors"][0]
    assert error["status"] == str(status) and error["title"] and error["detail"]
    if pointer:
        assert error["source"]["pointer"] == pointer


def test_private_urls_are_refused_without_the_development_switch(tmp_path: Path, db_url: str) -> None:
    rt = open_runtime(make_settings(tmp_path, db_url, allow_private_targets=False))
    try:
        tenant = make_tenant(rt.db)
        with live_service(rt) as base:
            api = Api(base, tenant.token)
            for url in [*REFUSED, *MALFORMED, *CONTROL_CHARACTERS]:
                status, body = api.call("POST", "/v1/webhooks", webhook_doc(url))
                assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/attributes/url", url
            # An invalid URL is called invalid; a private one unsafe, with what opens it.
            invalid = api.call("POST", "/v1/webhooks", webhook_doc("notaurl"))[1]["errors"][0]
            assert invalid["title"] == "Invalid webhook URL"
            unsafe = api.call("POST", "/v1/webhooks", webhook_doc("http://127.0.0.1:3000/hooks"))[1]["errors"][0]
            assert unsafe["title"] == "Unsafe webhook URL" and "DOCHOOKS_ALLOW_PRIVATE_TARGETS=true" in unsafe["detail"]
    finally:
        rt.close()


def test_patch_refuses_a_masked_value_under_a_header_name_that_does_not_hold_it(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/ok/p"), headers={"Authorization": "Bearer keep-me-please-0000"})
    (masked,) = hook["attributes"]["headers"].values()
    status, body = api.call(
        "PATCH",
        f"/v1/webhooks/{hook['id']}",
        {"data": {"type": "webhooks", "id": hook["id"], "attributes": {"headers": {"X-Token": masked}}}},
    )
    assert status == 422, body
    assert body["errors"][0]["source"] == {"pointer": "/data/attributes/headers/X-Token"}


def test_patch_changes_only_what_it_names_and_masked_values_keep_their_secret(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/ok/p"), headers={"Authorization": "Bearer keep-me-please-0000"})
    shown = hook["attributes"]["headers"]
    status, body = api.call(
        "PATCH",
        f"/v1/webhooks/{hook['id']}",
        {
            "data": {
                "type": "webhooks",
                "id": hook["id"],
                "attributes": {"name": "Renamed", "headers": {**shown, "X-Extra": "1"}},
            }
        },
    )
    assert status == 200, body
    attrs = body["data"]["attributes"]
    assert attrs["name"] == "Renamed" and attrs["url"] == hook["attributes"]["url"]
    assert set(attrs["headers"]) == {"Authorization", "X-Extra"}
    assert (
        api.call(
            "POST",
            f"/v1/webhooks/{hook['id']}/test",
            {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}},
        )[0]
        == 202
    )
    (got,) = receiver.wait_for("/ok/p", 1)
    assert got.headers["authorization"] == "Bearer keep-me-please-0000" and got.headers["x-extra"] == "1"
    conflict, _ = api.call(
        "PATCH", f"/v1/webhooks/{hook['id']}", {"data": {"type": "webhooks", "id": "999", "attributes": {}}}
    )
    assert conflict == 409


def test_stored_header_values_never_follow_a_url_to_another_origin(api: Api, receiver: Receiver) -> None:
    """Masking would protect nothing if a PATCH of the URL alone took the stored values along."""
    with running_receiver() as elsewhere:
        hook = create_hook(api, receiver.url("/ok/o"), headers={"Authorization": "Bearer stays-home-000000"})
        path = f"/v1/webhooks/{hook['id']}"
        masked = hook["attributes"]["headers"]
        for attributes in ({"url": elsewhere.url("/ok/o")}, {"url": elsewhere.url("/ok/o"), "headers": masked}):
            status, body = api.call("PATCH", path, {"data": {"type": "webhooks", "attributes": attributes}})
            assert status == 422 and body["errors"][0]["source"] == {"pointer": "/data/attributes/headers"}, body
            assert "another origin" in body["errors"][0]["detail"]
        assert api.call("GET", path)[1]["data"]["attributes"]["url"] == receiver.url("/ok/o")  # nothing changed
        send = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
        # Same origin, another path: the stored value goes along.
        moved = {"url": receiver.url("/ok/moved")}
        assert api.call("PATCH", path, {"data": {"type": "webhooks", "attributes": moved}})[0] == 200
        assert api.call("POST", f"{path}/test", send)[0] == 202
        (got,) = receiver.wait_for("/ok/moved", 1)
        assert got.headers["authorization"] == "Bearer stays-home-000000"
        # Another origin with the value given again: sent there, the new value only.
        again = {"url": elsewhere.url("/ok/o"), "headers": {"Authorization": "Bearer typed-again-1111"}}
        assert api.call("PATCH", path, {"data": {"type": "webhooks", "attributes": again}})[0] == 200
        assert api.call("POST", f"{path}/test", send)[0] == 202
        (got,) = elsewhere.wait_for("/ok/o", 1)
        assert got.headers["authorization"] == "Bearer typed-again-1111"
        assert not any("stays-home" in r.headers.get("authorization", "") for r in elsewhere.at("/"))


def test_ordered_delivery_is_off_unless_asked_for_and_can_be_changed_alone(api: Api, receiver: Receiver) -> None:
    plain = create_hook(api, receiver.url("/ok/plain"))
    assert plain["attributes"]["ordered"] is False
    hook = create_hook(api, receiver.url("/ok/ordered"), ordered=True)
    assert hook["attributes"]["ordered"] is True
    path = f"/v1/webhooks/{hook['id']}"
    status, changed = api.call("PATCH", path, {"data": {"type": "webhooks", "attributes": {"ordered": False}}})
    assert status == 200 and changed["data"]["attributes"]["ordered"] is False
    assert changed["data"]["attributes"]["url"] == receiver.url("/ok/ordered")  # the rest stays
    # Not a boolean: a JSON:API error pointing at the attribute, and nothing changed.
    status, refused = api.call("PATCH", path, {"data": {"type": "webhooks", "attributes": {"ordered": "sometimes"}}})
    assert status == 422
    assert refused["errors"][0]["source"]["pointer"] == "/data/attributes/ordered"
    assert api.call("GET", path)[1]["data"]["attributes"]["ordered"] is False


def test_delete_removes_the_webhook(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/ok/d"))
    assert api.call("DELETE", f"/v1/webhooks/{hook['id']}")[0] == 204
    assert api.call("GET", f"/v1/webhooks/{hook['id']}")[0] == 404
    assert api.call("DELETE", f"/v1/webhooks/{hook['id']}")[0] == 404


def test_a_test_send_is_delivered_logged_and_can_be_resent(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/ok/t"), topics=["processing-finished"])
    status, queued = api.call(
        "POST",
        f"/v1/webhooks/{hook['id']}/test",
        {"data": {"type": "webhook_tests", "attributes": {"topic": "preprocessing-done"}}},
    )
    assert status == 202
    delivery = wait_for_status(api, queued["data"]["id"], "succeeded")
    (got,) = receiver.wait_for("/ok/t", 1)
    payload = json.loads(got.body)
    assert payload["topic"] == "preprocessing-done" and payload["type"] == "documents"
    assert set(payload["attributes"]) == ATTRIBUTES
    attempt = delivery["attributes"]["attempts"][0]
    assert attempt["number"] == 1 and attempt["response_status"] == 200 and attempt["duration_ms"] >= 0
    assert attempt["request_headers"]["webhook-id"] == payload["request_id"] == delivery["attributes"]["request_id"]
    assert api.call("POST", f"/v1/deliveries/{delivery['id']}/retry")[0] == 202
    receiver.wait_for("/ok/t", 2)
    assert json.loads(receiver.at("/ok/t")[1].body)["request_id"] == payload["request_id"]
    unknown = api.call(
        "POST", f"/v1/webhooks/{hook['id']}/test", {"data": {"type": "webhook_tests", "attributes": {"topic": "nope"}}}
    )
    assert unknown[0] == 422


def test_the_delivery_log_is_newest_first_filtered_and_paged(api: Api, receiver: Receiver) -> None:
    hook = create_hook(api, receiver.url("/ok/l"))
    test = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
    ids = [api.call("POST", f"/v1/webhooks/{hook['id']}/test", test)[1]["data"]["id"] for _ in range(3)]
    for delivery_id in ids:
        wait_for_status(api, delivery_id, "succeeded")
    status, page = api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries?page[size]=2")
    assert status == 200 and [d["id"] for d in page["data"]] == ids[::-1][:2]
    _, rest = api.call("GET", page["links"]["next"])
    assert [d["id"] for d in rest["data"]] == ids[:1]
    _, failed = api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries?filter[status]=failed")
    assert failed["data"] == []
    assert api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries?filter[status]=bogus")[0] == 400
    assert api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries?page[size]=0")[0] == 400


def test_unknown_routes_and_ids_are_json_api_404s(api: Api) -> None:
    for path in ("/v1/nothing", "/v1/webhooks/abc", "/v1/deliveries/12345"):
        status, body = api.call("GET", path)
        assert status == 404 and body["errors"][0]["status"] == "404", path


def test_health_and_openapi_are_served(service: str) -> None:
    status, health = Api(service).call("GET", "/healthz")
    assert status == 200 and health["status"] == "ok"
    status, spec = Api(service).call("GET", "/openapi.json")
    assert status == 200 and "/v1/webhooks/{webhook_id}/deliveries" in spec["paths"]


HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", f"/v1/webhooks/{HUGE}", 404),
        ("GET", f"/v1/deliveries/{HUGE}", 404),
        ("GET", f"/v1/documents/{HUGE}", 404),
        ("GET", "/v1/documents/-1", 404),
        ("GET", "/v1/documents/1e5", 404),
        ("GET", f"/v1/documents?page[number]={HUGE}", 400),
        ("GET", f"/v1/documents?filter[older_than]={HUGE}", 400),
        ("GET", "/v1/documents?filter[external_id]=a%00b", 400),
        ("GET", f"/v1/webhooks/1/deliveries?page[before]={HUGE}", 400),
    ],
)
def test_out_of_range_ids_and_parameters_are_4xx_not_500(api: Api, method: str, path: str, status: int) -> None:
    got, body = api.call(method, path)
    assert got == status and body["errors"][0]["status"] == str(status), body


def spelled(doc: dict[str, Any], attribute: str, literal: str) -> bytes:
    """The document as JSON with one attribute's value written as a raw JSON literal, for
    values Python would not produce (lone surrogates, NUL escapes, integers past 64 bits)."""
    copy = json.loads(json.dumps(doc))
    copy["data"]["attributes"][attribute] = "@@"
    return json.dumps(copy).replace('"@@"', literal).encode()


HOOK = webhook_doc("http://127.0.0.1:9/")
UPLOAD = document_doc(b"x")


@pytest.mark.parametrize(
    ("path", "raw", "pointer"),
    [
        ("/v1/webhooks", spelled(HOOK, "name", r'"h\ud800x"'), "/data/attributes/name"),
        ("/v1/webhooks", spelled(HOOK, "name", r'"a\u0000b"'), "/data/attributes/name"),
        ("/v1/webhooks", spelled(HOOK, "headers", r'{"X-A": "\u007f"}'), "/data/attributes/headers/X-A"),
        (
            "/v1/documents",
            spelled(UPLOAD, "custom_fields", '{"a": 99999999999999999999999}'),
            "/data/attributes/custom_fields",
        ),
    ],
)
def test_unstorable_text_and_numbers_are_422_with_a_pointer(api: Api, path: str, raw: bytes, pointer: str) -> None:
    status, body = api.call("POST", path, raw=raw)
    assert status == 422, body
    assert body["errors"][0]["source"]["pointer"].startswith(pointer)


def test_a_lone_surrogate_in_an_upload_is_refused_as_malformed_json(api: Api) -> None:
    status, body = api.call("POST", "/v1/documents", raw=spelled(UPLOAD, "external_id", r'"\ud800"'))
    assert status == 400 and body["errors"][0]["title"] == "Malformed JSON"


def test_custom_fields_are_bounded_because_every_payload_carries_them(api: Api) -> None:
    status, body = api.call("POST", "/v1/documents", document_doc(b"x", custom_fields={"big": "y" * 20_000}))
    assert status == 422 and body["errors"][0]["source"]["pointer"] == "/data/attributes/custom_fields"


def _nested(depth: int, shape: str) -> str:
    """`{"k": V}` as JSON text, V `depth` objects or arrays deep: all objects, all arrays, or
    alternating (built as text: encoders have depth limits of their own)."""
    text = '"leaf"'
    for level in range(depth):
        as_list = shape == "arrays" or (shape == "mixed" and level % 2)
        text = f"[{text}]" if as_list else f'{{"k": {text}}}'
    return f'{{"k": {text}}}'


@pytest.mark.parametrize("shape", ["objects", "arrays", "mixed"])
@pytest.mark.parametrize("way", ["json", "multipart"])
def test_custom_fields_nest_to_one_limit_on_every_way_in_and_what_is_stored_is_always_readable(
    api: Api, receiver: Receiver, shape: str, way: str
) -> None:
    def send(custom_fields: str) -> tuple[int, Any]:
        if way == "json":
            template = json.dumps(document_doc(b"x", custom_fields="CUSTOM"))
            raw = template.replace('"CUSTOM"', custom_fields).encode()
            return api.call("POST", "/v1/documents", raw=raw)
        body, kind = multipart(("file", "a.txt", b"x"), ("custom_fields", None, custom_fields.encode()))
        return api.call("POST", "/v1/documents", raw=body, content_type=kind)

    for depth in (MAX_CUSTOM_FIELDS_DEPTH, 50, 250, 5000):  # one object more around each
        status, body = send(_nested(depth, shape))
        assert status in (400, 422), (depth, body)
        assert status == 400 or body["errors"][0]["source"]["pointer"] == "/data/attributes/custom_fields"
    hook = create_hook(api, receiver.url("/ok/deep"))
    deepest = _nested(MAX_CUSTOM_FIELDS_DEPTH - 1, shape)
    status, body = send(deepest)
    assert status == 201, body
    doc_id = body["data"]["id"]
    receiver.wait_for("/ok/deep", 1)
    assert json.loads(receiver.at("/ok/deep")[0].body)["attributes"]["custom_fields"] == json.loads(deepest)
    for path in (f"/v1/documents/{doc_id}", "/v1/documents", f"/v1/documents/{doc_id}/events"):
        assert api.call("GET", path)[0] == 200, path
    status, log = api.call("GET", f"/v1/webhooks/{hook['id']}/deliveries")
    assert status == 200
    assert log["data"][0]["attributes"]["payload"]["attributes"]["custom_fields"] == json.loads(deepest)
    assert api.call("GET", f"/v1/deliveries/{log['data'][0]['id']}")[0] == 200
    web = WebClient(api.base)
    web.sign_in(str(api.token))
    assert web.get(f"/documents/{doc_id}").status == 200
