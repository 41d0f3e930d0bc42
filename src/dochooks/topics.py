"""The webhook topics, defined once: the 22 workflow topics of the product page (value,
title and workflow stage), and the operational topics, about the webhooks themselves."""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("inbound", "separation", "classification", "extraction", "outbound")
STAGES_WITH_LEVELS = STAGES[1:4]  # where documents can wait for a person
LEVELS = ("first-level", "second-level", "third-level", "qc")
_LEVEL_TITLES = {
    "separation": ("1ST LEVEL", "2ND LEVEL", "3RD LEVEL", "QC"),
    "classification": ("FIRST LEVEL", "SECOND LEVEL", "THIRD LEVEL", "QC"),
    "extraction": ("FIRST LEVEL", "SECOND LEVEL", "THIRD LEVEL", "QC"),
}


WORKFLOW = "workflow"  # a topic's kind: a document moved ...
OPERATIONAL = "operational"  # ... or a webhook's health changed, or a delivery gave up


@dataclass(frozen=True)
class Topic:
    value: str
    title: str
    stage: str | None  # the workflow stage; None for an operational topic
    kind: str = WORKFLOW


def _stage_topics(stage: str) -> list[Topic]:
    name = stage.upper()
    ready = [
        Topic(f"ready-for-{stage}-{level}", f"READY FOR {name} {title}", stage)
        for level, title in zip(LEVELS, _LEVEL_TITLES[stage], strict=True)
    ]
    return [
        Topic(f"automatic-{stage}-done", f"AUTOMATIC {name} DONE", stage),
        *ready,
        Topic(f"{stage}-done", f"{name} DONE", stage),
    ]


TOPICS: tuple[Topic, ...] = (
    Topic("document-received", "DOCUMENT RECEIVED", "inbound"),
    Topic("preprocessing-done", "PREPROCESSING DONE", "inbound"),
    *(topic for stage in STAGES_WITH_LEVELS for topic in _stage_topics(stage)),
    Topic("processing-finished", "PROCESSING FINISHED", "outbound"),
    Topic("processing-failed", "PROCESSING FAILED", "outbound"),
)
BY_VALUE: dict[str, Topic] = {t.value: t for t in TOPICS}
# About the tenant's webhooks rather than its documents, as Svix's operational webhooks:
# subscribed to like any topic, listed apart (GET /v1/topics says each topic's kind).
WEBHOOK_FAILING = Topic("webhook-failing", "WEBHOOK FAILING", None, OPERATIONAL)
WEBHOOK_DISABLED = Topic("webhook-disabled", "WEBHOOK DISABLED", None, OPERATIONAL)
WEBHOOK_RECOVERED = Topic("webhook-recovered", "WEBHOOK RECOVERED", None, OPERATIONAL)
DELIVERY_EXHAUSTED = Topic("delivery-exhausted", "DELIVERY EXHAUSTED", None, OPERATIONAL)
OPERATIONAL_TOPICS: tuple[Topic, ...] = (WEBHOOK_FAILING, WEBHOOK_DISABLED, WEBHOOK_RECOVERED, DELIVERY_EXHAUSTED)
ALL_TOPICS: tuple[Topic, ...] = TOPICS + OPERATIONAL_TOPICS
KNOWN: dict[str, Topic] = {t.value: t for t in ALL_TOPICS}
_OPERATIONAL_VALUES = frozenset(t.value for t in OPERATIONAL_TOPICS)


def is_topic(value: str) -> bool:
    """Whether a webhook may subscribe to `value`: a workflow or an operational topic."""
    return value in KNOWN


def is_operational(value: str) -> bool:
    return value in _OPERATIONAL_VALUES
