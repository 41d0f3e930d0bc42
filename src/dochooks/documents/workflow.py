"""The workflow as a state machine: pure functions from where a document is to where it
goes next and which topics that move emits. Storage applies a transition and publishes
its topics in one transaction.

    inbound         state `preprocessing` (automatic)        -> preprocessing-done
    <stage>         state `automatic` (automatic)            -> automatic-<stage>-done
                    state `validation:<level>` (waits)       <- ready-for-<stage>-<level>
                    leaving the stage                        -> <stage>-done
    outbound        state `outbound` (automatic)             -> processing-finished
    any failure                                              -> processing-failed

The stages with levels are separation, classification and extraction, in that order."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dochooks.topics import LEVELS, STAGES, STAGES_WITH_LEVELS


class DocumentStatus(StrEnum):
    """The reference's document status, as payloads and the API show it."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"


class State(StrEnum):
    """Where a document is within its workflow step; `validation:<level>` besides these
    (see `waiting_at`) means it waits for a person."""

    PREPROCESSING = "preprocessing"  # automatic work due
    AUTOMATIC = "automatic"  # automatic work due
    OUTBOUND = "outbound"  # automatic work due
    FINISHED = "finished"
    FAILED = "failed"


class StageStatus(StrEnum):
    """How far a document's stage has come, as the API's `include` shows it: whether a
    missing document type or field is final or only not there yet."""

    PENDING = "pending"  # not run yet
    VALIDATING = "validating"  # the automatic result waits for a person
    DONE = "done"
    FAILED = "failed"  # the document failed before the stage finished


STATUSES = tuple(DocumentStatus)
VALIDATION = "validation:"


@dataclass(frozen=True)
class Transition:
    changes: dict[str, Any]  # document columns to set
    topics: tuple[str, ...]  # emitted in this order, each with the document as changed
    run_now: bool = False  # automatic work follows at once


def on_upload() -> Transition:
    return Transition(
        {
            "status": DocumentStatus.PENDING,
            "workflow_step": "inbound",
            "state": State.PREPROCESSING,
            "pending_validation": None,
        },
        ("document-received",),
        run_now=True,
    )


def failed(reason: str) -> Transition:
    return Transition(
        {"status": DocumentStatus.FAILED, "state": State.FAILED, "pending_validation": None, "error": reason},
        ("processing-failed",),
    )


def after_preprocessing(changes: dict[str, Any]) -> Transition:
    return Transition(
        {
            **changes,
            "status": DocumentStatus.IN_PROGRESS,
            "workflow_step": STAGES_WITH_LEVELS[0],
            "state": State.AUTOMATIC,
        },
        ("preprocessing-done",),
        run_now=True,
    )


def _wait_or_leave(stage: str, levels: tuple[str, ...], emitted: tuple[str, ...]) -> Transition:
    """Wait at the first of `levels`, or finish the stage and move on."""
    if levels:
        topic = f"ready-for-{stage}-{levels[0]}"
        return Transition(
            {
                "status": DocumentStatus.IN_PROGRESS,
                "workflow_step": stage,
                "state": waiting_at(levels[0]),
                "pending_validation": topic,
            },
            (*emitted, topic),
        )
    done = (*emitted, f"{stage}-done")
    position = STAGES_WITH_LEVELS.index(stage)
    if position + 1 < len(STAGES_WITH_LEVELS):
        nxt = STAGES_WITH_LEVELS[position + 1]
        return Transition(
            {
                "status": DocumentStatus.IN_PROGRESS,
                "workflow_step": nxt,
                "state": State.AUTOMATIC,
                "pending_validation": None,
            },
            done,
            run_now=True,
        )
    return Transition(
        {
            "status": DocumentStatus.IN_PROGRESS,
            "workflow_step": "outbound",
            "state": State.OUTBOUND,
            "pending_validation": None,
        },
        done,
        run_now=True,
    )


def after_outbound() -> Transition:
    return Transition({"status": DocumentStatus.DONE, "state": State.FINISHED}, ("processing-finished",))


def after_automatic(stage: str, levels: tuple[str, ...], changes: dict[str, Any]) -> Transition:
    moved = _wait_or_leave(stage, levels, (f"automatic-{stage}-done",))
    return Transition({**changes, **moved.changes}, moved.topics, moved.run_now)


def waiting_at(level: str) -> str:
    """The state of a document waiting for a person at `level`."""
    return VALIDATION + level


def waiting_level(state: str) -> str | None:
    """The level a document in `state` waits at, if it waits for a person."""
    return state.removeprefix(VALIDATION) if state.startswith(VALIDATION) else None


def after_validation(stage: str, level: str, levels: tuple[str, ...], changes: dict[str, Any]) -> Transition:
    """Complete `level`; wait at the next configured level after it, or leave the stage."""
    later = tuple(lv for lv in levels if LEVELS.index(lv) > LEVELS.index(level))
    moved = _wait_or_leave(stage, later, ())
    return Transition({**changes, **moved.changes}, moved.topics, moved.run_now)


def stage_status(workflow_step: str, state: str, stage: str) -> StageStatus:
    """Where `stage` stands for a document at `workflow_step` in `state`."""
    here, there = STAGES.index(workflow_step), STAGES.index(stage)
    if here > there:
        return StageStatus.DONE
    if state == State.FAILED:
        return StageStatus.FAILED
    if here == there and waiting_level(state) is not None:
        return StageStatus.VALIDATING
    return StageStatus.PENDING
