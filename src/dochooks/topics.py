"""The 22 webhook topics of the product page, defined once: value, title and workflow stage."""

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


@dataclass(frozen=True)
class Topic:
    value: str
    title: str
    stage: str


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


def is_topic(value: str) -> bool:
    return value in BY_VALUE
