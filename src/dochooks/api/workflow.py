"""Routes for the tenant's workflow configuration."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dochooks.api.deps import JsonBody, Tenant
from dochooks.api.jsonapi import JsonApiResponse, document, resource
from dochooks.api.schemas import WorkflowBody
from dochooks.documents import config as workflow_config
from dochooks.web.deps import Rt

router = APIRouter(prefix="/v1/workflow", tags=["workflow"])


def workflow_resource(tenant: int, config: workflow_config.WorkflowConfig) -> dict[str, Any]:
    return resource(
        "workflows",
        tenant,
        {
            **{stage: list(levels) for stage, levels in config.levels.items()},
            "processing_target_seconds": config.processing_target_seconds,
            "document_retention_days": config.document_retention_days,
            "classification_rules": config.classification_rules,
            "extraction_rules": config.extraction_rules,
        },
        "/v1/workflow",
    )


@router.get("", summary="Show the workflow configuration")
def show(rt: Rt, tenant: Tenant) -> JsonApiResponse:
    with rt.db.read() as conn:
        return document(workflow_resource(tenant, workflow_config.load(conn, tenant)))


@router.put("", dependencies=[JsonBody], summary="Change the workflow configuration")
def change(body: WorkflowBody, rt: Rt, tenant: Tenant) -> JsonApiResponse:
    """Validation levels per stage (each drawn from first-level, second-level, third-level,
    qc, in that order), the processing-time target, the processors' rules, and how many days
    finished and failed documents are kept. Attributes
    left out keep their value. Documents already waiting keep the task they wait on."""
    changes = workflow_config.checked(body.data.attributes.model_dump(exclude_unset=True))
    with rt.db.transaction() as conn:
        config = workflow_config.merged(changes, workflow_config.load(conn, tenant))
        workflow_config.save(conn, tenant, config, rt.clock.now_ms())
    return document(workflow_resource(tenant, config))
