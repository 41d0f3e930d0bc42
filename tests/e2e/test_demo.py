"""`dochooks demo` as a user runs it: deliveries verified within seconds, Ctrl-C cleans up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.factories.commands import DOCHOOKS, wait_until


@contextmanager
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """`dochooks demo` with its temporary files in a directory of the test's, run from a shell
    with a DOCHOOKS_DATABASE_URL of its own; its output file."""
    temp, out = tmp_path / "tmp", tmp_path / "demo.out"
    temp.mkdir()
    with open(out, "wb") as stdout:
        proc = subprocess.Popen(
            [DOCHOOKS, "demo"],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TMPDIR": str(temp), "DOCHOOKS_DATABASE_URL": f"sqlite:///{tmp_path / 'yours.db'}"},
        )
    try:
        yield proc, out, temp
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_shows_verified_deliveries_and_ctrl_c_removes_everything(tmp_path: Path) -> None:
    started = time.monotonic()
    with demo(tmp_path) as (proc, out, temp):
        wait_until(lambda: "signed and verified" in out.read_text(), timeout=30)
        first = time.monotonic() - started
        wait_until(lambda: "processing-finished " in out.read_text(), timeout=30)
        text = out.read_text()
        assert re.search(r"document-received +document 1 ", text) and "INVALID" not in text
        workdir = Path(re.search(r"temporary files in (\S+);", text)[1])  # type: ignore[index]
        assert workdir.parent == temp and workdir.is_dir()
        assert re.search(r"token:\s+dh_\S+", text) and "/docs" in text and "web UI:" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    assert first < 30
    assert list(temp.iterdir()) == []  # the service's files, and its metrics directory too
    assert not (tmp_path / "yours.db").exists()  # the shell's DOCHOOKS_* settings are not the demo's
    assert "demo stopped" in out.read_text()


def test_ctrl_c_while_the_demo_starts_stops_it_cleanly(tmp_path: Path) -> None:
    with demo(tmp_path) as (proc, out, temp):
        wait_until(lambda: any(temp.iterdir()), timeout=10)
        time.sleep(0.5)  # the service is starting
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0, out.read_text()
    assert list(temp.iterdir()) == []
