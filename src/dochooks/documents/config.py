"""A tenant's workflow configuration: validation levels per stage, the processing-time
target behind sla_deadline, the rules the default processors follow, and how long finished
documents are kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from dochooks.db import Connection
from dochooks.documents import patterns
from dochooks.errors import InvalidInput
from dochooks.topics import LEVELS, STAGES_WITH_LEVELS

# Every rule costs time on every document: each keyword is counted in the text, each
# pattern of the document's type is run on it, and every pattern is compiled when saved.
MAX_DOCUMENT_TYPES = 100  # in each of classification_rules and extraction_rules
MAX_KEYWORDS = 1000  # in all types together
MAX_KEYWORD_CHARS = 200
MAX_FIELDS_PER_TYPE = 50
MAX_PATTERNS_SIZE = 20 * patterns.MAX_SIZE  # all patterns' sizes together (patterns.size_of)
MAX_RETENTION_DAYS = 3650


@dataclass(frozen=True)
class WorkflowConfig:
    levels: dict[str, tuple[str, ...]] = field(default_factory=lambda: {s: () for s in STAGES_WITH_LEVELS})
    processing_target_seconds: int | None = None
    classification_rules: dict[str, list[str]] = field(default_factory=dict)
    extraction_rules: dict[str, dict[str, str]] = field(default_factory=dict)
    # Days finished and failed documents are kept after their last change: None follows
    # the service's setting, 0 keeps them for good.
    document_retention_days: int | None = None


def check_levels(stage: str, levels: list[str]) -> tuple[str, ...]:
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise InvalidInput(f"unknown levels {unknown}; choose from {list(LEVELS)}", attribute=stage)
    if len(set(levels)) != len(levels) or list(levels) != sorted(levels, key=LEVELS.index):
        raise InvalidInput(f"levels must be distinct and in the order {list(LEVELS)}", attribute=stage)
    return tuple(levels)


def check_classification_rules(rules: Mapping[str, list[str]]) -> dict[str, list[str]]:
    if len(rules) > MAX_DOCUMENT_TYPES:
        raise InvalidInput(f"at most {MAX_DOCUMENT_TYPES} document types", attribute="classification_rules")
    if sum(len(keywords) for keywords in rules.values()) > MAX_KEYWORDS:
        raise InvalidInput(f"at most {MAX_KEYWORDS} keywords in all", attribute="classification_rules")
    for doc_type, keywords in rules.items():
        if any(len(k) > MAX_KEYWORD_CHARS for k in keywords):
            raise InvalidInput(
                f"keywords must be at most {MAX_KEYWORD_CHARS} characters",
                attribute=f"classification_rules/{doc_type}",
            )
    return {t: list(k) for t, k in rules.items()}


def check_extraction_rules(rules: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The rules, once every pattern is priced and compiles (patterns.compiled)."""
    if len(rules) > MAX_DOCUMENT_TYPES:
        raise InvalidInput(f"at most {MAX_DOCUMENT_TYPES} document types", attribute="extraction_rules")
    total = 0
    for doc_type, fields in rules.items():
        if len(fields) > MAX_FIELDS_PER_TYPE:
            raise InvalidInput(
                f"at most {MAX_FIELDS_PER_TYPE} fields per document type", attribute=f"extraction_rules/{doc_type}"
            )
        for name, pattern in fields.items():
            at = f"extraction_rules/{doc_type}/{name}"
            try:
                total += patterns.size_of(pattern)
                if total > MAX_PATTERNS_SIZE:
                    raise InvalidInput(
                        f"the patterns together are too large: over {MAX_PATTERNS_SIZE} items with repeats spelled out",
                        attribute=at,
                    )
                patterns.compiled(pattern)
            except patterns.PatternRefused as exc:
                raise InvalidInput(f"the pattern for {doc_type}.{name} {exc.detail}", attribute=at) from None
    return {t: dict(f) for t, f in rules.items()}


def check_target(seconds: int | None) -> int | None:
    if seconds is not None and seconds <= 0:
        raise InvalidInput(
            "processing_target_seconds must be positive, or null for none",
            attribute="processing_target_seconds",
        )
    return seconds


def check_retention(days: int | None) -> int | None:
    if days is not None and not 0 <= days <= MAX_RETENTION_DAYS:
        raise InvalidInput(
            f"document_retention_days must be from 0 (keep for good) to {MAX_RETENTION_DAYS}, "
            "or null for the service's default",
            attribute="document_retention_days",
        )
    return days


def checked(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The given attributes, each checked (patterns priced and compiled): slow enough that
    callers do it before their write transaction, not inside it."""
    checks: dict[str, Any] = {
        **{stage: lambda levels, stage=stage: check_levels(stage, levels) for stage in STAGES_WITH_LEVELS},
        "processing_target_seconds": check_target,
        "classification_rules": check_classification_rules,
        "extraction_rules": check_extraction_rules,
        "document_retention_days": check_retention,
    }
    nullable = ("processing_target_seconds", "document_retention_days")
    return {
        key: checks[key](value)
        for key, value in attributes.items()
        if key in checks and (value is not None or key in nullable)
    }


def merged(changes: Mapping[str, Any], current: WorkflowConfig) -> WorkflowConfig:
    """A new configuration: the checked changes, the other attributes kept."""
    return WorkflowConfig(
        levels={stage: changes.get(stage, current.levels[stage]) for stage in STAGES_WITH_LEVELS},
        processing_target_seconds=changes.get("processing_target_seconds", current.processing_target_seconds),
        classification_rules=changes.get("classification_rules", current.classification_rules),
        extraction_rules=changes.get("extraction_rules", current.extraction_rules),
        document_retention_days=changes.get("document_retention_days", current.document_retention_days),
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
        document_retention_days=row["document_retention_days"],
    )


def save(conn: Connection, tenant_id: int, config: WorkflowConfig, now_ms: int) -> None:
    params = {
        "t": tenant_id,
        "levels": orjson.dumps({s: list(v) for s, v in config.levels.items()}).decode(),
        "seconds": config.processing_target_seconds,
        "classification": orjson.dumps(config.classification_rules).decode(),
        "extraction": orjson.dumps(config.extraction_rules).decode(),
        "retention": config.document_retention_days,
        "now": now_ms,
    }
    conn.run(
        "INSERT INTO workflows (tenant_id, levels, processing_target_seconds, classification_rules, extraction_rules, "
        "document_retention_days, updated_at) "
        "VALUES (:t, :levels, :seconds, :classification, :extraction, :retention, :now) "
        "ON CONFLICT (tenant_id) DO UPDATE SET levels = excluded.levels, "
        "processing_target_seconds = excluded.processing_target_seconds, "
        "classification_rules = excluded.classification_rules, extraction_rules = excluded.extraction_rules, "
        "document_retention_days = excluded.document_retention_days, updated_at = excluded.updated_at",
        params,
    )
