from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from tests.factories import stores
from tests.factories.peers import Receiver, running_receiver
from tests.factories.stores import database_url, make_settings, make_tenant


@pytest.fixture(autouse=True)
def _running_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tell the stores which test asks for PostgreSQL, so one without the marker fails."""
    stores.running_test = request.node
    yield
    stores.running_test = None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on the embedded SQLite and on the real PostgreSQL server."""
    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(make_settings(tmp_path, db_url))
    yield rt
    rt.close()


@pytest.fixture
def acme(runtime: Runtime) -> NewTenant:
    """A tenant of the test's runtime, with its API token."""
    return make_tenant(runtime.db, "acme")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as r:
        yield r


@pytest.fixture
def service(runtime: Runtime) -> Iterator[str]:
    from tests.factories.clients import live_service

    with live_service(runtime) as base:
        yield base
