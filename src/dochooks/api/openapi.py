"""The OpenAPI document: FastAPI's, completed with what the routes' signatures cannot say
(their answers are built as dicts): each operation's success document, the JSON:API error
answers, and the payload deliveries carry, as an OpenAPI 3.1 `webhooks` entry."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dochooks.api import answers
from dochooks.api.jsonapi import MEDIA_TYPE, is_api_path

ONE, MANY = False, True
# What each API operation answers with on success: status codes, resource type, one or a list.
SUCCESS: dict[tuple[str, str], tuple[tuple[int, ...], str | None, bool]] = {
    ("get", "/v1/topics"): ((200,), "topics", MANY),
    ("get", "/v1/ip-ranges"): ((200,), "ip-ranges", MANY),
    ("get", "/v1/webhooks"): ((200,), "webhooks", MANY),
    ("post", "/v1/webhooks"): ((201,), "webhooks", ONE),
    ("get", "/v1/webhooks/{webhook_id}"): ((200,), "webhooks", ONE),
    ("patch", "/v1/webhooks/{webhook_id}"): ((200,), "webhooks", ONE),
    ("delete", "/v1/webhooks/{webhook_id}"): ((204,), None, ONE),
    ("get", "/v1/webhooks/{webhook_id}/secret"): ((200,), "webhooks", ONE),
    ("post", "/v1/webhooks/{webhook_id}/secret/rotate"): ((200,), "webhooks", ONE),
    ("post", "/v1/webhooks/{webhook_id}/test"): ((202,), "deliveries", ONE),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"): ((200,), "deliveries", MANY),
    ("post", "/v1/webhooks/{webhook_id}/recover"): ((202, 200), "recoveries", ONE),
    ("get", "/v1/webhooks/{webhook_id}/recoveries/{recovery_id}"): ((200,), "recoveries", ONE),
    ("get", "/v1/deliveries/{delivery_id}"): ((200,), "deliveries", ONE),
    ("post", "/v1/deliveries/{delivery_id}/retry"): ((202,), "deliveries", ONE),
    ("post", "/v1/documents"): ((201,), "documents", ONE),
    ("get", "/v1/documents"): ((200,), "documents", MANY),
    ("get", "/v1/documents/{document_id}"): ((200,), "documents", ONE),
    ("get", "/v1/documents/{document_id}/events"): ((200,), "events", MANY),
    ("post", "/v1/documents/{document_id}/validations"): ((200,), "documents", ONE),
    ("get", "/v1/events"): ((200,), "events", MANY),
    ("get", "/v1/events/{event_id}"): ((200,), "events", ONE),
    ("get", "/v1/workflow"): ((200,), "workflows", ONE),
    ("put", "/v1/workflow"): ((200,), "workflows", ONE),
}
_SUCCESS_WORDS = {200: "OK", 201: "Created", 202: "Accepted: queued", 204: "Deleted"}
_ERRORS = {
    400: "Malformed JSON, a missing body or an invalid query parameter",
    401: "No valid API token (`WWW-Authenticate: Bearer`)",
    404: "No such resource (of this tenant)",
    408: "The upload took longer than its deadline",
    409: "In conflict with the resource's state",
    410: "The cursor is older than what retention kept: go on from `meta.resume_from`",
    413: "The body is too large",
    415: "The body is not JSON (`application/vnd.api+json` or `application/json`)",
    422: "An attribute is invalid (`source.pointer` says which)",
    429: "Over the token's rate or the address's failed authentications (`Retry-After`)",
    503: "Every upload slot is taken (`Retry-After`)",
}
# Errors only some operations answer with.
_MORE_ERRORS = {
    ("patch", "/v1/webhooks/{webhook_id}"): (409,),
    ("post", "/v1/webhooks/{webhook_id}/recover"): (409,),
    ("post", "/v1/deliveries/{delivery_id}/retry"): (409,),
    ("post", "/v1/documents"): (408, 413, 503),
    ("post", "/v1/documents/{document_id}/validations"): (409,),
    ("get", "/v1/events"): (410,),
    ("get", "/v1/documents/{document_id}/events"): (410,),
}
_STATUS = {"type": "object", "properties": {"status": {"type": "string"}, "version": {"type": "string"}}}


def _errors_answer(status: int) -> dict[str, Any]:
    content = {"schema": {"$ref": "#/components/schemas/Errors"}}
    return {"description": _ERRORS[status], "content": {MEDIA_TYPE: content}}


def _error_statuses(method: str, path: str, operation: dict[str, Any]) -> list[int]:
    statuses = [400, 401, 422, 429]
    if "{" in path:
        statuses.append(404)
    if "requestBody" in operation:
        statuses.append(415)
    statuses += _MORE_ERRORS.get((method, path), ())
    return sorted(statuses)


def _complete_api_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    codes, kind, many = SUCCESS[(method, path)]  # a new API route must say what it answers here
    responses: dict[str, Any] = {}
    for code in codes:
        answer: dict[str, Any] = {"description": _SUCCESS_WORDS[code]}
        if kind is not None:
            answer["content"] = {MEDIA_TYPE: {"schema": answers.document_schema(kind, many=many)}}
        responses[str(code)] = answer
    for status in _error_statuses(method, path, operation):
        responses[str(status)] = _errors_answer(status)
    operation["responses"] = responses


def _complete_probe(path: str, operation: dict[str, Any]) -> None:
    operation["responses"]["200"]["content"] = {MEDIA_TYPE: {"schema": _STATUS}}
    if path == "/readyz":
        operation["responses"]["503"] = {
            "description": "Not ready: an error object per reason",
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Errors"}}},
        }


def _delivery_webhooks() -> dict[str, Any]:
    """What a subscribed endpoint receives, as OpenAPI 3.1's `webhooks`: one POST, whatever the topic."""
    operation = {
        "summary": "A delivery: what your endpoint receives",
        "description": "POSTed to the webhook's URL for each topic it subscribes to, with its custom headers "
        "and the signature headers webhook-id, webhook-timestamp and webhook-signature. Any 2xx answer "
        "within the delivery timeout settles it; otherwise it is retried (8 retries, n^5 s apart) and "
        "410 Gone disables the webhook.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookPayload"}}},
        },
        "responses": {"2XX": {"description": "Received"}, "410": {"description": "Gone: disable this webhook"}},
    }
    return {"delivery": {"post": operation}}


def _hoist_definitions(node: Any, schemas: dict[str, Any]) -> Any:
    """A schema written in by hand (the upload's, from pydantic) keeps its models in `$defs`
    and refers to `#/$defs/...`, which in this document points nowhere: move them to the
    components, where FastAPI puts the same models, and point there."""
    if isinstance(node, list):
        return [_hoist_definitions(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    for name, definition in node.get("$defs", {}).items():
        schemas.setdefault(name, _hoist_definitions(definition, schemas))
    hoisted = {key: _hoist_definitions(value, schemas) for key, value in node.items() if key != "$defs"}
    ref = hoisted.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        hoisted["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    return hoisted  # a copy: the route's own schema (documents._UPLOAD_BODY) stays as it was


def describe(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once and kept (as FastAPI's own `openapi()` does)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if is_api_path(path):
                _complete_api_operation(method, path, operation)
            else:
                _complete_probe(path, operation)
    schemas = doc["components"]["schemas"]
    doc["paths"] = _hoist_definitions(doc["paths"], schemas)
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422, which this API does not answer
        schemas.pop(unused, None)
    schemas["Error"] = answers.ERROR
    schemas["Errors"] = answers.ERRORS
    schemas["WebhookPayload"] = answers.WEBHOOK_PAYLOAD
    for kind, name in answers.NAMES.items():
        schemas[name] = answers.resource_schema(kind)
    doc["webhooks"] = _delivery_webhooks()
    app.openapi_schema = doc
    return doc
