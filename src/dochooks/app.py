"""The ASGI application: routes, error handling, and the dispatcher in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from dochooks import __version__
from dochooks.api import deliveries, documents, errors, meta, webhooks, workflow
from dochooks.api.jsonapi import JsonApiResponse
from dochooks.background import run_background, sole_dispatcher
from dochooks.metrics import registry_for
from dochooks.runtime import Runtime
from dochooks.ui.app import install as install_ui
from dochooks.web.limits import BodyLimit, BodyRefused, body_refused
from dochooks.web.rate_limit import AuthFailures, RateLimiter
from dochooks.web.upload_slots import UploadSlots

log = logging.getLogger("dochooks")
DESCRIPTION = """\
dochooks tells your systems by webhook when documents move through the workflow.

Every `/v1` route takes `Authorization: Bearer <token>` (from `dochooks tenant create`) and
speaks JSON:API (`application/vnd.api+json`; `application/json` is accepted too).
Deliveries are signed with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) and retried 8 times, retry n after n^5 s plus up to 30 s of jitter.
"""


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("background work stopped: deliveries and documents no longer move", exc_info=task.exception())


def create_app(rt: Runtime, *, dispatch: bool = True, limiter_clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The API and web UI for a runtime; with `dispatch` the dispatcher and workflow runner
    run alongside it. The rate limits keep time by `limiter_clock` (seconds)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not dispatch:
            yield
            return
        stopping = asyncio.Event()
        with sole_dispatcher(rt):  # refuses to start beside another dispatcher on one SQLite file
            task = asyncio.create_task(run_background(rt, stopping))
            task.add_done_callback(_report_end)
            app.state.background = task
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
    app.state.background = None
    app.state.rate_limiter = RateLimiter(rt.settings.rate_limit, rt.settings.rate_burst, clock=limiter_clock)
    app.state.auth_failures = AuthFailures(
        rt.settings.auth_failure_rate, rt.settings.auth_failure_burst, clock=limiter_clock
    )
    app.state.metrics = registry_for(rt.db, rt.clock)
    if not rt.settings.metrics_port:  # otherwise /metrics has a listener of its own (cli.py)
        app.include_router(meta.metrics_router)
    app.state.upload_slots = UploadSlots(rt.settings.max_concurrent_uploads)
    app.add_middleware(BodyLimit, upload_bytes=rt.settings.max_upload_bytes, upload_seconds=rt.settings.upload_seconds)
    errors.install(app)
    app.add_exception_handler(BodyRefused, body_refused)
    for module in (meta, webhooks, deliveries, documents, workflow):
        app.include_router(module.router)
    install_ui(app)  # the web pages, at / beside /v1
    return app
