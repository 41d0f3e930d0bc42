"""Files and directories only the service's user may read: the data directory, the SQLite
database with its WAL and shared-memory files, the dispatcher's lock. Each is given its
mode when it is made (a process-wide umask would be the embedding program's business); one
that exists and is ours loses its group and other permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
_GROUP_AND_OTHER = 0o077


def private_dir(path: Path, *, tighten_existing: bool = True) -> None:
    """Make `path` with mode 0700 unless it exists (missing parents get the usual mode);
    with `tighten_existing`, an existing one of ours is brought to 0700 as well."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if tighten_existing:
        tighten(path)


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists; an existing one of ours is
    brought to 0600 (group and other permissions taken off)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        tighten(path)


def tighten(path: Path) -> None:
    """Take group and other permissions off `path` if this process owns it; leave a path
    that is missing, or someone else's, alone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if st.st_uid == os.geteuid() and st.st_mode & _GROUP_AND_OTHER:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~_GROUP_AND_OTHER)
