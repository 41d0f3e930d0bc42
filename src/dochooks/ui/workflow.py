"""Development → Workflow: which validation levels documents wait at, per stage, and how
long finished documents are kept."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dochooks.documents import config as workflow_config
from dochooks.errors import InvalidInput
from dochooks.topics import LEVELS, STAGES_WITH_LEVELS
from dochooks.ui.auth import Form, SignedIn, redirect
from dochooks.ui.flash import flash_of, flash_redirect
from dochooks.ui.forms import text, texts, whole_number
from dochooks.ui.render import page
from dochooks.web.deps import Rt
from dochooks.web.inputs import TEN_YEARS

router = APIRouter(prefix="/development", include_in_schema=False)
LEVEL_TITLES = {"first-level": "1st level", "second-level": "2nd level", "third-level": "3rd level", "qc": "QC"}


def _page(request: Request, config: workflow_config.WorkflowConfig, **extra: object) -> Response:
    return page(
        request,
        "workflow.html",
        config=config,
        stages=STAGES_WITH_LEVELS,
        levels=LEVELS,
        level_titles=LEVEL_TITLES,
        **{
            "errors": {},
            "seconds": config.processing_target_seconds or "",
            "retention_days": "" if config.document_retention_days is None else config.document_retention_days,
            **extra,
        },
    )


@router.get("/workflow")
def workflow(request: Request, rt: Rt, session: SignedIn) -> Response:
    with rt.db.read() as conn:
        config = workflow_config.load(conn, session.tenant_id)
    flash = flash_of(request, rt, session)  # a refused post's errors and what was typed
    return _page(request, config, notice=request.query_params.get("notice"), **(flash.data if flash else {}))


@router.post("/workflow")
def change_workflow(request: Request, rt: Rt, session: SignedIn, form: Form) -> Response:
    typed = text(form, "processing_target_seconds").strip()
    typed_days = text(form, "document_retention_days").strip()
    given: dict[str, object] = {stage: texts(form, stage) for stage in STAGES_WITH_LEVELS}
    try:
        seconds = whole_number(typed, at_most=TEN_YEARS)
        if typed and seconds is None:
            raise InvalidInput(
                "Enter a whole number of seconds (at most ten years), or leave it empty.",
                attribute="processing_target_seconds",
            )
        days = whole_number(typed_days, at_most=workflow_config.MAX_RETENTION_DAYS)
        if typed_days and days is None:
            raise InvalidInput(
                f"Enter a whole number of days from 0 to {workflow_config.MAX_RETENTION_DAYS}, or leave it empty.",
                attribute="document_retention_days",
            )
        changes = workflow_config.checked(
            {**given, "processing_target_seconds": seconds, "document_retention_days": days}
        )
    except InvalidInput as exc:
        key = (exc.pointer or "").rsplit("/", 1)[-1]
        typed_values = {"seconds": typed, "retention_days": typed_days}
        return flash_redirect(rt, session, "/development/workflow", {"errors": {key: exc.detail}}, typed_values)
    with rt.db.transaction() as conn:
        config = workflow_config.merged(changes, workflow_config.load(conn, session.tenant_id))
        workflow_config.save(conn, session.tenant_id, config, rt.clock.now_ms())
    return redirect("/development/workflow?notice=saved")
