"""The OpenAPI document as the running service serves it: valid OpenAPI 3.1 (by
openapi-spec-validator), every /v1 operation behind the bearer scheme with its success
document and its JSON:API error answers, and real answers valid against what it says."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator, ValidationError
from openapi_spec_validator import validate

from dochooks.app import create_app
from dochooks.runtime import Runtime
from tests.factories.clients import Api, live_service, webhook_doc
from tests.factories.reference import ATTRIBUTES, TOP_LEVEL
from tests.factories.stores import make_tenant

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ERRORS_REF = "#/components/schemas/Errors"


@pytest.fixture
def served(runtime: Runtime) -> Iterator[tuple[Api, dict[str, Any]]]:
    """A tenant's client of the live service, and the OpenAPI document the service serves."""
    with live_service(runtime, dispatch=False) as base:
        api = Api(base, make_tenant(runtime.db).token)
        status, spec = Api(base).call("GET", "/openapi.json")
        assert status == 200
        yield api, spec


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() if p.startswith("/v1/") for m, op in ops.items()]


def _conforms(spec: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """`value` is valid against `schema`, whose references point into the document's components."""
    Draft202012Validator({**schema, "components": spec["components"]}).validate(value)


def _answer_schema(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    content = spec["paths"][path][method]["responses"][str(status)]["content"]
    return content["application/vnd.api+json"]["schema"]  # type: ignore[no-any-return]


@SQLITE_ONLY
def test_the_served_document_is_valid_openapi(served: tuple[Api, dict[str, Any]]) -> None:
    spec = served[1]
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises with the first place it breaks the specification
    refs = set(re.findall(r"'\$ref': '([^']*)'", repr(spec)))
    assert refs and all(ref.removeprefix("#/components/schemas/") in spec["components"]["schemas"] for ref in refs)
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["HTTPBearer"]["description"],
    }


@SQLITE_ONLY
def test_every_app_describes_itself_alike(runtime: Runtime, served: tuple[Api, dict[str, Any]]) -> None:
    # Building the document must leave the routes' own schemas as they were for the next app.
    again = orjson.loads(orjson.dumps(create_app(runtime, dispatch=False).openapi()))
    assert again == served[1]


@SQLITE_ONLY
def test_every_v1_operation_has_bearer_security_a_success_schema_and_error_objects(
    served: tuple[Api, dict[str, Any]],
) -> None:
    spec = served[1]
    operations = _operations(spec)
    assert len(operations) >= 20  # every API operation, as the service itself lists them
    for method, path, op in operations:
        where = f"{method.upper()} {path}"
        assert {"HTTPBearer": []} in op.get("security", []), where
        codes = {int(code) for code in op["responses"]}
        success = sorted(c for c in codes if 200 <= c < 300)
        assert success, where
        for code in success:
            if code != 204:
                assert _answer_schema(spec, method, path, code)["required"] == ["data"], where
        errors = sorted(c for c in codes if 400 <= c < 500)
        assert 401 in errors and 422 in errors, where
        assert all(_answer_schema(spec, method, path, c) == {"$ref": ERRORS_REF} for c in errors), where
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"status", "title", "detail"}
    assert spec["components"]["schemas"]["Errors"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422, never answered


@SQLITE_ONLY
def test_the_payload_example_is_the_references(served: tuple[Api, dict[str, Any]]) -> None:
    spec = served[1]
    payload = spec["components"]["schemas"]["WebhookPayload"]
    (example,) = payload["examples"]
    assert set(example) == TOP_LEVEL and set(example["attributes"]) == ATTRIBUTES
    assert example["request_id"] == "ef083852541ff078340a516432aee2f4" and example["topic"] == "document-received"
    _conforms(spec, payload, example)
    delivery = spec["webhooks"]["delivery"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert delivery == {"$ref": "#/components/schemas/WebhookPayload"}
    document = spec["components"]["schemas"]["Document"]["properties"]["attributes"]
    _conforms(spec, document, document["examples"][0])


@SQLITE_ONLY
def test_real_answers_are_what_the_document_says(served: tuple[Api, dict[str, Any]]) -> None:
    api, spec = served
    status, hook = api.call("POST", "/v1/webhooks", webhook_doc("http://127.0.0.1:9/"))
    assert status == 201
    _conforms(spec, _answer_schema(spec, "post", "/v1/webhooks", 201), hook)
    files = [{"base64_file": base64.b64encode(b"x").decode()}]
    upload = {"data": {"type": "documents", "attributes": {"files": files}}}
    status, doc = api.call("POST", "/v1/documents", upload)
    assert status == 201
    _conforms(spec, _answer_schema(spec, "post", "/v1/documents", 201), doc)
    test_send = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
    status, queued = api.call("POST", f"/v1/webhooks/{hook['data']['id']}/test", test_send)
    assert status == 202
    _conforms(spec, _answer_schema(spec, "post", "/v1/webhooks/{webhook_id}/test", 202), queued)
    for path in ("/v1/topics", "/v1/webhooks", "/v1/documents", "/v1/workflow"):
        status, listed = api.call("GET", path)
        assert status == 200
        _conforms(spec, _answer_schema(spec, "get", path, 200), listed)
    for answer in (Api(api.base).call("GET", "/v1/webhooks"), api.call("POST", "/v1/webhooks", {"data": {}})):
        assert 400 <= answer[0] < 500
        _conforms(spec, {"$ref": ERRORS_REF}, answer[1])


@SQLITE_ONLY
def test_a_document_with_its_included_fields_and_classification_is_what_the_document_says(
    served: tuple[Api, dict[str, Any]],
) -> None:
    api, spec = served
    show = spec["paths"]["/v1/documents/{document_id}"]["get"]
    (include,) = [p for p in show["parameters"] if p["name"] == "include"]
    assert (
        include["in"] == "query" and "fields" in include["description"] and "classification" in include["description"]
    )
    schema = _answer_schema(spec, "get", "/v1/documents/{document_id}", 200)
    example = show["responses"]["200"]["content"]["application/vnd.api+json"]["examples"]["include"]["value"]
    _conforms(spec, schema, example)
    assert {r["type"] for r in example["included"]} == {"fields", "classifications"}
    files = [{"base64_file": base64.b64encode(b"Invoice 1").decode()}]
    status, doc = api.call("POST", "/v1/documents", {"data": {"type": "documents", "attributes": {"files": files}}})
    assert status == 201
    status, shown = api.call("GET", f"/v1/documents/{doc['data']['id']}?include=fields,classification")
    assert status == 200 and shown["included"] == [
        {"type": "classifications", "id": doc["data"]["id"], "attributes": {"document_type": None, "status": "pending"}}
    ]
    _conforms(spec, schema, shown)
    status, listed = api.call("GET", "/v1/documents?include=classification")
    assert status == 200 and len(listed["included"]) == 1
    _conforms(spec, _answer_schema(spec, "get", "/v1/documents", 200), listed)
    # what the document says is what it checks: an answer that breaks it is refused
    shown["included"][0]["attributes"]["status"] = "maybe"
    with pytest.raises(ValidationError):
        _conforms(spec, schema, shown)
