"""Schemathesis against the service's own OpenAPI document, over real HTTP, on SQLite and
PostgreSQL: generated requests, valid and invalid, for every operation, on ids that do
not exist and on the tenant's real ones; none may get a 5xx, and every 4xx must be a
JSON:API error document. Bounded (and derandomized) to run in CI in a few minutes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from dochooks.runtime import open_runtime
from tests.factories.clients import Api, live_service, webhook_doc
from tests.factories.stores import database_url, make_settings, make_tenant

EXAMPLES = 50  # per operation, per generation mode, per set of path ids


@dataclass(frozen=True)
class Target:
    base: str
    token: str
    ids: dict[str, str]  # real resources of the tenant, by path parameter name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Target]:
    with database_url(request.param, tmp_path) as url:
        rt = open_runtime(make_settings(tmp_path, url, rate_limit=0))
        try:
            with live_service(rt) as base:
                api = Api(base, make_tenant(rt.db).token)
                hook = api.call("POST", "/v1/webhooks", webhook_doc("http://127.0.0.1:9/"))[1]["data"]
                test = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
                delivery = api.call("POST", f"/v1/webhooks/{hook['id']}/test", test)[1]["data"]
                upload = {
                    "data": {
                        "type": "documents",
                        "attributes": {"files": [{"base64_file": base64.b64encode(b"x").decode()}]},
                    }
                }
                document = api.call("POST", "/v1/documents", upload)[1]["data"]
                recover = {"data": {"type": "recoveries", "attributes": {"since": "2026-01-01T00:00:00Z"}}}
                recovery = api.call("POST", f"/v1/webhooks/{hook['id']}/recover", recover)[1]["data"]
                with rt.db.read() as conn:
                    event = conn.one("SELECT MIN(id) AS id FROM events")
                assert event is not None
                ids = {
                    "event_id": str(event["id"]),
                    "webhook_id": hook["id"],
                    "delivery_id": delivery["id"],
                    "document_id": document["id"],
                    "recovery_id": recovery["id"],
                }
                assert api.token is not None
                yield Target(base, api.token, ids)
        finally:
            rt.close()


def _fuzz(operation: Any, target: Target, mode: GenerationMode, path_parameters: dict[str, str] | None) -> int:
    """Run the generated cases; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=target.base, headers={"Authorization": f"Bearer {target.token}"}, timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            errors = response.json()["errors"]
            assert errors and all(e["status"].startswith("4") and e["detail"] for e in errors), errors
            assert str(response.status_code) in {e["status"] for e in errors}, errors

    try:
        check()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # Nothing in this operation can be made invalid (no body, query or free path parameter).
    return sent


@pytest.mark.timeout(600)
def test_no_generated_request_gets_a_server_error(target: Target) -> None:
    schema = schemathesis.openapi.from_url(f"{target.base}/openapi.json")
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    sent = 0
    assert len(operations) >= 20  # every operation the service documents
    # Deleting runs last, so the other operations find the real resources still there.
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        names = [p.name for p in operation.path_parameters]
        id_sets: list[dict[str, str] | None] = [None]
        if names:
            id_sets.append({name: target.ids[name] for name in names})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for ids in id_sets:
                sent += _fuzz(operation, target, mode, ids)
    assert sent > 20 * EXAMPLES  # the fuzzing really ran
