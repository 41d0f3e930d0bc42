"""The ASGI application: the JSON:API at /v1 and the web pages beside it, composed here so
that neither face imports the other; each error answered by the face that owns its path;
the dispatcher and workflow runner in the lifespan (on this event loop, or in a process of
their own)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from dochooks import __version__
from dochooks.api import deliveries, meta, openapi, recoveries
from dochooks.api import documents as api_documents
from dochooks.api import errors as api_errors
from dochooks.api import events as api_events
from dochooks.api import webhooks as api_webhooks
from dochooks.api import workflow as api_workflow
from dochooks.api.jsonapi import JsonApiResponse, is_api_path
from dochooks.background import run_background, sole_dispatcher
from dochooks.background_process import BackgroundProcess
from dochooks.db.group_commit import GroupCommit
from dochooks.errors import DochooksError
from dochooks.metrics import registry_for
from dochooks.runtime import Runtime
from dochooks.ui import auth
from dochooks.ui import documents as ui_documents
from dochooks.ui import errors as ui_errors
from dochooks.ui import recovery as ui_recovery
from dochooks.ui import webhooks as ui_webhooks
from dochooks.ui import workflow as ui_workflow
from dochooks.ui.render import STATIC
from dochooks.web.access_log import AccessLog
from dochooks.web.api_docs import serve_docs
from dochooks.web.errors import UNSTORABLE, report
from dochooks.web.limits import BodyLimit, BodyRefused, Refusal, body_refused
from dochooks.web.rate_limit import AuthFailures, RateLimiter
from dochooks.web.upload_slots import UploadSlots

logger = logging.getLogger("dochooks")
DESCRIPTION = """\
dochooks tells your systems by webhook when documents move through the workflow.

Every `/v1` route takes `Authorization: Bearer <token>` (`dochooks tenant create` or `token create`) and
speaks JSON:API (`application/vnd.api+json`; `application/json` is accepted too).
Deliveries are signed with Standard Webhooks headers (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) and retried 8 times, retry n after n^5 s plus up to 30 s of jitter.
"""


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.critical("background work stopped: deliveries and documents no longer move", exc_info=task.exception())


Answer = Callable[[Request, Any], Response]  # one face's answer to one class of error


def _by_face(api_answer: Answer, ui_answer: Answer) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler of one class of error: logged once, then answered by the face that owns
    the request's path (the API under /v1, the pages everywhere else)."""

    async def handler(request: Request, exc: Exception) -> Response:
        report(request, exc)
        answer = api_answer if is_api_path(request.url.path) else ui_answer
        return answer(request, exc)

    return handler


def _refused_body(refusal: Refusal) -> Response:
    """The body limit's 413 or 408, in the words of the face that owns the path."""
    answer = api_errors.body_refusal if is_api_path(refusal.path) else ui_errors.body_refusal
    return answer(refusal)


def _handle_errors(app: FastAPI) -> None:
    """Every error becomes its face's answer (a JSON:API error document or the error page); none a bare 500."""
    answers: list[tuple[type[Exception], Answer, Answer]] = [
        (DochooksError, api_errors.domain_error, ui_errors.domain_error),
        (RequestValidationError, api_errors.invalid_request, ui_errors.invalid_request),
        (HTTPException, api_errors.http_error, ui_errors.http_error),
        *((kind, api_errors.unstorable, ui_errors.unstorable) for kind in UNSTORABLE),
        (Exception, api_errors.crash, ui_errors.crash),
    ]
    for kind, api_answer, ui_answer in answers:
        app.add_exception_handler(kind, _by_face(api_answer, ui_answer))
    app.add_exception_handler(BodyRefused, body_refused)
    app.add_exception_handler(auth.SignInRequired, auth.sign_in_redirect)  # type: ignore[arg-type]


def create_app(
    rt: Runtime,
    *,
    dispatch: bool = True,
    own_process: bool = False,
    limiter_clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The API and web UI for a runtime; with `dispatch` the dispatcher and workflow runner
    run alongside it, on its event loop or, with `own_process`, in a child process (what
    `serve` does). The rate limits keep time by `limiter_clock` (seconds)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not dispatch:
            yield
            return
        if own_process:  # where the database has no notifications between processes, wake-ups are relayed
            with BackgroundProcess(rt.settings, relay=rt.db.dialect.owned_by_one_process) as child:
                app.state.background = child
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
        docs_url=None,  # our own pages instead (web/api_docs.py): FastAPI's load their scripts from a CDN
        redoc_url=None,
    )
    app.openapi = functools.partial(openapi.describe, app)  # type: ignore[method-assign]
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
    app.state.upload_commits = GroupCommit(rt.db)
    app.add_middleware(
        BodyLimit,
        upload_bytes=rt.settings.max_upload_bytes,
        upload_seconds=rt.settings.upload_seconds,
        upload_paths=(api_documents.router.prefix, ui_documents.router.prefix),  # each face's upload posts there
        answer=_refused_body,
    )
    app.add_middleware(AccessLog)  # outermost: it sees the answer every other layer gave
    _handle_errors(app)
    for router in (
        meta.router,
        api_webhooks.router,
        recoveries.router,
        deliveries.router,
        api_events.router,
        api_documents.router,
        api_workflow.router,
    ):
        app.include_router(router)
    serve_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (auth.router, ui_webhooks.router, ui_recovery.router, ui_workflow.router, ui_documents.router):
        app.include_router(router)
    return app
