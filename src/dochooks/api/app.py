"""The ASGI application: routes, error handling, and the dispatcher in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from dochooks import __version__
from dochooks.api import deliveries, documents, errors, meta, webhooks, workflow
from dochooks.api.jsonapi import JsonApiResponse
from dochooks.api.limits import BodyLimit
from dochooks.background import run_background
from dochooks.runtime import Runtime

DESCRIPTION = """\
dochooks tells your systems by webhook when documents move through the workflow.

Every `/v1` route takes `Authorization: Bearer <token>` (from `dochooks tenant create`) and
speaks JSON:API (`application/vnd.api+json`; `application/json` is accepted too).
Deliveries are signed with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) and retried 8 times, retry n after n^5 s plus up to 30 s of jitter.
"""


def create_app(rt: Runtime, *, dispatch: bool = True) -> FastAPI:
    """The API for a runtime; with `dispatch` the dispatcher and workflow runner run alongside it."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not dispatch:
            yield
            return
        stopping = asyncio.Event()
        task = asyncio.create_task(run_background(rt, stopping))
        try:
            yield
        finally:
            stopping.set()
            await task

    app = FastAPI(
        title="dochooks",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JsonApiResponse,
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.add_middleware(BodyLimit, upload_bytes=rt.settings.max_upload_bytes)
    errors.install(app)
    for module in (meta, webhooks, deliveries, documents, workflow):
        app.include_router(module.router)
    return app
