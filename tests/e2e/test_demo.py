"""`dochooks demo` as a user runs it: deliveries verified within seconds, Ctrl-C cleans up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.factories.commands import DOCHOOKS, wait_until


def test_demo_shows_verified_deliveries_and_ctrl_c_removes_everything(tmp_path: Path) -> None:
    out = tmp_path / "demo.out"
    started = time.monotonic()
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([DOCHOOKS, "demo"], stdout=stdout, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        wait_until(lambda: "signed and verified" in out.read_text(), timeout=30)
        first = time.monotonic() - started
        wait_until(lambda: "processing-finished " in out.read_text(), timeout=30)
        text = out.read_text()
        assert re.search(r"document-received +document 1 ", text) and "INVALID" not in text
        workdir = Path(re.search(r"temporary files in (\S+);", text)[1])  # type: ignore[index]
        token = re.search(r"token:\s+(dh_\S+)", text)
        assert workdir.is_dir() and token and "/docs" in text and "web UI:" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first < 30
    assert not workdir.exists()
    assert "demo stopped" in out.read_text()
