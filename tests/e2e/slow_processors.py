"""A processor set for the crash test: extraction takes long enough to be killed mid-step."""

from __future__ import annotations

import time
from collections.abc import Mapping

from dochooks.documents.processors import extract


def slow_extract(text: str, document_type: str | None, rules: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    time.sleep(2)
    return extract(text, document_type, rules)


PROCESSORS = {"extract": slow_extract}
