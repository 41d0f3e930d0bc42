"""The `dochooks` command for end-to-end tests: one-off commands, and `serve` and `worker`
as subprocesses a test may kill and start again; other processes that listen (the examples)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.factories.peers import free_port

SCALE = 0.0002  # every retry delay times this: the whole 8-retry schedule takes about 12 s
DOCHOOKS = shutil.which("dochooks", path=str(Path(sys.executable).parent)) or "dochooks"
REPO = Path(__file__).resolve().parents[2]


def cli(db_url: str, *args: str, env: dict[str, str]) -> str:
    """Run `dochooks ARGS --database-url DB_URL` to its end; its output."""
    done = subprocess.run(
        [DOCHOOKS, *args, "--database-url", db_url], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def tenant(db_url: str, name: str, env: dict[str, str]) -> dict[str, object]:
    """`dochooks tenant create NAME --json`: the tenant's id and token."""
    created = json.loads(cli(db_url, "tenant", "create", name, "--json", env=env))
    assert set(created) == {"tenant_id", "token"} and isinstance(created["tenant_id"], int)
    return created  # type: ignore[no-any-return]


def wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@contextmanager
def listening_process(
    argv: list[str], *, cwd: Path, env: dict[str, str], port: int, log: Path, timeout: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """`argv` as a process of its own, its output appended to `log`, once it listens on `port`
    of loopback (an example receiver); terminated (killed if it lingers) at the end."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, f"{argv[0]} exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"{argv[0]} did not listen on {port}:\n{log.read_text()}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Running:
    """`dochooks COMMAND` as a subprocess with its output in a log file; `start` again after
    `kill` or `stop`. Loopback webhooks are allowed (the tests' receivers are there)."""

    command: tuple[str, ...] = ()
    stop_seconds = 20.0

    def __init__(self, db_url: str, tmp_path: Path, name: str, **env: str) -> None:
        self.db_url, self.tmp_path, self.log = db_url, tmp_path, tmp_path / f"{name}.log"
        self.env = {
            **os.environ,
            "DOCHOOKS_DATA_DIR": str(tmp_path / "data"),
            "DOCHOOKS_ALLOW_PRIVATE_TARGETS": "1",
            "PYTHONPATH": str(REPO),
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [DOCHOOKS, *self.command, "--database-url", self.db_url],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.tmp_path,
                umask=0o022,  # the usual one, under which files are world-readable unless made otherwise
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no clean-up of any kind
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(self.stop_seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Served(Running):
    """`dochooks serve` on a free port; `start` returns once /readyz answers 200."""

    def __init__(self, db_url: str, tmp_path: Path, **env: str) -> None:
        super().__init__(db_url, tmp_path, "serve", DOCHOOKS_RETRY_TIME_SCALE=str(SCALE), **env)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = ("serve", "--port", str(self.port))

    def start(self) -> None:
        super().start()
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                assert time.monotonic() < deadline, "serve never became ready"
                time.sleep(0.1)


@contextmanager
def served(db_url: str, tmp_path: Path, **env: str) -> Iterator[Served]:
    service = Served(db_url, tmp_path, **env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


class Worker(Running):
    """`dochooks worker`, with its /metrics on a port of its own."""

    command = ("worker",)
    stop_seconds = 30.0

    def __init__(self, db_url: str, tmp_path: Path, name: str, **env: str) -> None:
        self.metrics_port = free_port()
        super().__init__(db_url, tmp_path, name, DOCHOOKS_METRICS_PORT=str(self.metrics_port), **env)

    def succeeded(self) -> float:
        """The attempts this worker counted as succeeded, from its /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith('dochooks_delivery_attempts_total{outcome="succeeded"}'):
                    return float(line.split()[-1])
        return 0.0
