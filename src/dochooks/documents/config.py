"""A tenant's workflow configuration: validation levels per stage, the processing-time
target behind sla_deadline, and the rules the default processors follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import regex

from dochooks.db import Connection
from dochooks.errors import InvalidInput
from dochooks.topics import LEVELS, STAGES_WITH_LEVELS


@dataclass(frozen=True)
class WorkflowConfig:
    levels: dict[str, tuple[str, ...]] = field(default_factory=lambda: {s: () for s in STAGES_WITH_LEVELS})
    processing_target_seconds: int | None = None
    classification_rules: dict[str, list[str]] = field(default_factory=dict)
    extraction_rules: dict[str, dict[str, str]] = field(default_factory=dict)


def check_levels(stage: str, levels: list[str]) -> tuple[str, ...]:
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise InvalidInput(f"unknown levels {unknown}; choose from {list(LEVELS)}", attribute=stage)
    if len(set(levels)) != len(levels) or list(levels) != sorted(levels, key=LEVELS.index):
        raise InvalidInput(f"levels must be distinct and in the order {list(LEVELS)}", attribute=stage)
    return tuple(levels)


def check_extraction_rules(rules: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    for doc_type, fields in rules.items():
        for name, pattern in fields.items():
            try:
                regex.compile(pattern)
            except regex.error as exc:
                raise InvalidInput(
                    f"the pattern for {doc_type}.{name} is not a valid regular expression: {exc}",
                    attribute=f"extraction_rules/{doc_type}/{name}",
                ) from exc
    return {t: dict(f) for t, f in rules.items()}


def check_target(seconds: int | None) -> int | None:
    if seconds is not None and seconds <= 0:
        raise InvalidInput(
            "processing_target_seconds must be positive, or null for none",
            attribute="processing_target_seconds",
        )
    return seconds


def validated(attributes: Mapping[str, Any], current: WorkflowConfig) -> WorkflowConfig:
    """A new configuration: the given attributes checked, the others kept."""
    levels = dict(current.levels)
    for stage in STAGES_WITH_LEVELS:
        if attributes.get(stage) is not None:
            levels[stage] = check_levels(stage, attributes[stage])
    return WorkflowConfig(
        levels=levels,
        processing_target_seconds=check_target(attributes["processing_target_seconds"])
        if "processing_target_seconds" in attributes
        else current.processing_target_seconds,
        classification_rules=dict(attributes["classification_rules"])
        if attributes.get("classification_rules") is not None
        else current.classification_rules,
        extraction_rules=check_extraction_rules(attributes["extraction_rules"])
        if attributes.get("extraction_rules") is not None
        else current.extraction_rules,
    )


def load(conn: Connection, tenant_id: int) -> WorkflowConfig:
    row = conn.one("SELECT * FROM workflows WHERE tenant_id = :t", {"t": tenant_id})
    if row is None:
        return WorkflowConfig()
    levels = orjson.loads(row["levels"])
    return WorkflowConfig(
        levels={s: tuple(levels.get(s, ())) for s in STAGES_WITH_LEVELS},
        processing_target_seconds=row["processing_target_seconds"],
        classification_rules=orjson.loads(row["classification_rules"]),
        extraction_rules=orjson.loads(row["extraction_rules"]),
    )


def save(conn: Connection, tenant_id: int, config: WorkflowConfig, now_ms: int) -> None:
    params = {
        "t": tenant_id,
        "levels": orjson.dumps({s: list(v) for s, v in config.levels.items()}).decode(),
        "target": config.processing_target_seconds,
        "classification": orjson.dumps(config.classification_rules).decode(),
        "extraction": orjson.dumps(config.extraction_rules).decode(),
        "now": now_ms,
    }
    conn.run(
        "INSERT INTO workflows (tenant_id, levels, processing_target_seconds, classification_rules, extraction_rules, "
        "updated_at) VALUES (:t, :levels, :target, :classification, :extraction, :now) "
        "ON CONFLICT (tenant_id) DO UPDATE SET levels = excluded.levels, "
        "processing_target_seconds = excluded.processing_target_seconds, "
        "classification_rules = excluded.classification_rules, extraction_rules = excluded.extraction_rules, "
        "updated_at = excluded.updated_at",
        params,
    )
