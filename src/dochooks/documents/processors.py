"""The automatic work of each stage, pluggable. The defaults are real and simple:
file-type detection and text from PDFs (pypdf), images and plain text; one document per
upload; keyword classification; regular-expression extraction.

Replace any of them with a Python entry point in the group `dochooks.processors`
(names: preprocess, separate, classify, extract), or with the setting
DOCHOOKS_PROCESSORS=package.module:MAPPING naming a dict of the same keys."""

from __future__ import annotations

import importlib
import io
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from typing import Any

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from dochooks.documents import patterns
from dochooks.errors import DochooksError

logger = logging.getLogger("dochooks.processors")


class Unreadable(DochooksError, status=422, title="Unreadable document"):
    """The uploaded file cannot be processed: the document ends in processing-failed."""


class ProcessorError(DochooksError, status=422, title="Processing failed"):
    """A processor could not finish: the document ends in processing-failed with this reason."""


EXTRACTION_SECONDS = 1.0  # all of one document's patterns together
MAX_MATCH_CHARS = 1_000_000  # of a document's text, read by classification and extraction


@dataclass(frozen=True)
class Content:
    file_type: str  # pdf, image, text
    page_count: int
    text: str


# What preprocessing reads, by content (not by name); the UI's upload help says the same.
ACCEPTED_FILES = "a PDF, an image (PNG, JPEG, GIF, TIFF or WebP) or UTF-8 text"
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}


def preprocess(files: list[bytes]) -> Content:
    """Detect the type of the upload's first file and read its pages and text."""
    if not files or not files[0]:
        raise Unreadable("the file is empty")
    data = files[0]
    if data.startswith(b"%PDF-"):
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            text = "\n".join(page.extract_text() or "" for page in reader.pages)
            pages = len(reader.pages)
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise Unreadable(f"the PDF cannot be read: {exc}") from exc
        if pages == 0:
            raise Unreadable("the PDF has no pages")
        return Content("pdf", pages, text)
    if any(data.startswith(magic) for magic in _IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return Content("image", 1, "")
    if b"\x00" not in data:
        try:
            return Content("text", 1, data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    raise Unreadable(f"unsupported file type: send {ACCEPTED_FILES}")


def separate(content: Content) -> Content:
    """The part of an upload that stays this document; the default keeps one document per upload."""
    return content


def classify(text: str, rules: Mapping[str, list[str]]) -> str | None:
    """The document type whose keywords occur most often in the text (case-insensitive)."""
    lowered = text[:MAX_MATCH_CHARS].lower()
    scores = {kind: sum(lowered.count(k.lower()) for k in keywords if k) for kind, keywords in rules.items()}
    best = max(scores.items(), key=lambda item: item[1], default=(None, 0))
    return best[0] if best[1] > 0 else None


def extract(text: str, document_type: str | None, rules: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """Fields by the regular expressions of the document's type: the first group, or the
    whole match when the pattern has none. Tenants' patterns are priced before they are
    compiled (see patterns.py) and share a time limit, matching without holding the GIL:
    a pathological one fails its document, not the service."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + EXTRACTION_SECONDS
    for name, pattern in rules.get(document_type or "", {}).items():
        try:
            compiled = patterns.compiled(pattern)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            match = compiled.search(text[:MAX_MATCH_CHARS], timeout=left, concurrent=True)
        except patterns.PatternRefused as exc:
            raise ProcessorError(f"the extraction pattern for {name!r} {exc.detail}") from None
        except TimeoutError:
            raise ProcessorError(
                f"the extraction patterns took longer than {EXTRACTION_SECONDS:g} s (at {name!r})"
            ) from None
        value = (match.group(1) if match.groups() else match.group(0)) if match else None
        if value is not None:
            found[name] = value.strip()
    return found


@dataclass(frozen=True)
class Processors:
    preprocess: Callable[[list[bytes]], Content] = preprocess
    separate: Callable[[Content], Content] = separate
    classify: Callable[[str, Mapping[str, list[str]]], str | None] = classify
    extract: Callable[[str, str | None, Mapping[str, Mapping[str, str]]], dict[str, str]] = extract


def _import(spec: str) -> Mapping[str, Any]:
    module, _, attr = spec.partition(":")
    loaded: Mapping[str, Any] = getattr(importlib.import_module(module), attr)
    return loaded


def load_processors(spec: str | None = None) -> Processors:
    """The defaults, replaced by entry points of group `dochooks.processors`, then by `spec`."""
    chosen: dict[str, Any] = {}
    for entry in entry_points(group="dochooks.processors"):
        chosen[entry.name] = entry.load()
        logger.info("processor %s from %s", entry.name, entry.value)
    if spec:
        chosen.update(_import(spec))
    unknown = set(chosen) - {"preprocess", "separate", "classify", "extract"}
    if unknown:
        raise DochooksError(f"unknown processor names {sorted(unknown)}")
    return replace(Processors(), **chosen)
