"""Children that must not outlive their parent: serve's background process and the sender
process. A module of its own, so that a child imports only this to ask for it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies, as a thread of it would."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent died before we asked
        os._exit(1)
