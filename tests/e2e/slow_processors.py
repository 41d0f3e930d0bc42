"""A processor set for the crash test: extraction takes long enough to be killed mid-step,
and notes each start in the file `SLOW_EXTRACT_STARTED` names, so the test knows it began."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from dochooks.documents.processors import extract


def slow_extract(text: str, document_type: str | None, rules: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    with open(os.environ["SLOW_EXTRACT_STARTED"], "a") as started:
        started.write("started\n")
    time.sleep(2)
    return extract(text, document_type, rules)


PROCESSORS = {"extract": slow_extract}
