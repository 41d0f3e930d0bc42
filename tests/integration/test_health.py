"""Liveness and readiness, as a load balancer or an orchestrator probes them."""

from __future__ import annotations

from dochooks import __version__
from dochooks.db.migrate import shipped
from dochooks.runtime import Runtime
from tests.factories.clients import Api


def test_a_running_service_is_alive_and_ready(service: str) -> None:
    assert Api(service).call("GET", "/healthz") == (200, {"status": "ok", "version": __version__})
    status, ready = Api(service).call("GET", "/readyz")
    assert status == 200 and ready["status"] == "ready"


def test_a_database_that_lacks_a_migration_is_not_ready_and_says_which(runtime: Runtime, service: str) -> None:
    last = shipped()[-1]
    with runtime.db.transaction() as conn:
        conn.run("DELETE FROM schema_migrations WHERE version = :v", {"v": last.version})
    status, body = Api(service).call("GET", "/readyz")
    assert status == 503
    assert [e["detail"] for e in body["errors"]] == [
        f"the database lacks migrations {last.version:04d}_{last.name}: run `dochooks migrate`"
    ]
    assert Api(service).call("GET", "/healthz")[0] == 200  # alive all the same: no restart would help


def test_a_database_that_does_not_answer_is_not_ready(runtime: Runtime, service: str) -> None:
    runtime.db.close()  # a closed database refuses every use, as one that went away does
    status, body = Api(service).call("GET", "/readyz")
    assert status == 503
    assert "the database does not answer, or holds no dochooks schema" in [e["detail"] for e in body["errors"]]
    assert Api(service).call("GET", "/healthz")[0] == 200
