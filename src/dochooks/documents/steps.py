"""One step of automatic work: run the stage's processor and say where the document goes."""

from __future__ import annotations

from collections.abc import Callable

from dochooks.documents import workflow
from dochooks.documents.config import WorkflowConfig
from dochooks.documents.processors import Content, ProcessorError, Processors, Unreadable
from dochooks.documents.store import Document
from dochooks.documents.workflow import Transition


def automatic_step(
    doc: Document, config: WorkflowConfig, processors: Processors, read_files: Callable[[], list[bytes]]
) -> Transition | None:
    """The transition of the automatic work due for `doc`, or None if none is due."""
    try:
        if doc.state == workflow.State.PREPROCESSING:
            content = processors.preprocess(read_files())
            return workflow.after_preprocessing(
                {"file_type": content.file_type, "page_count": content.page_count, "content_text": content.text}
            )
        if doc.state == workflow.State.OUTBOUND:
            return workflow.after_outbound()
        if doc.state != workflow.State.AUTOMATIC:
            return None
        stage, text = doc.workflow_step, doc.content_text or ""
        changes: dict[str, object] = {}
        if stage == "separation":
            kept = processors.separate(Content(doc.file_type or "", doc.page_count or 0, text))
            changes = {"file_type": kept.file_type, "page_count": kept.page_count, "content_text": kept.text}
        elif stage == "classification":
            changes = {"document_type": processors.classify(text, config.classification_rules)}
        elif stage == "extraction":
            changes = {"extracted": processors.extract(text, doc.document_type, config.extraction_rules)}
        return workflow.after_automatic(stage, config.levels.get(stage, ()), changes)
    except (Unreadable, ProcessorError) as exc:
        return workflow.failed(exc.detail)
    except Exception as exc:  # a processor's bug fails the document, visibly, not the runner
        return workflow.failed(f"{doc.workflow_step} failed: {type(exc).__name__}: {exc}")
