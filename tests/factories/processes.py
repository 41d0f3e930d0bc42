"""Processes a test looks for: the sender processes a dispatcher started."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dochooks.delivery import sender_process

SENDER_MODULE = sender_process.__name__  # its children run `python -m` it


def sender_children(parent: int) -> list[int]:
    """The live sender processes (`python -m dochooks.delivery.sender_process`) whose parent is `parent`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
            if int(ppid) == parent and state != "Z" and SENDER_MODULE in (stat.parent / "cmdline").read_text():
                found.append(int(stat.parent.name))
    return sorted(found)
