"""`dochooks serve` as a subprocess of a benchmark (API, workflow runner and dispatcher, as in
production; rate limit off, loopback webhooks allowed), optionally on chosen cores; calls to its
API; and clients uploading documents through it, some at a time."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from harness import free_port, on_cores
from verdict import Verdict

DOCHOOKS = str(Path(sys.executable).parent / "dochooks")
DOCUMENT = b"Invoice 2026-0042\nTotal due: 1,250.00 EUR\n" * 20  # the file every upload carries
JSON_API = "application/vnd.api+json"


@dataclass(frozen=True)
class Service:
    """A running `dochooks serve`: where it listens, its environment and its process."""

    base: str  # http://127.0.0.1:PORT
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def call(self, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call; its answer's JSON. Anything but a 2xx raises, with the answer."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", JSON_API)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path} answered {exc.code}: {exc.read()[:500]!r}") from exc


def tenant_token(env: dict[str, str], name: str) -> str:
    """`dochooks tenant create NAME` on the service's database: the tenant's API token."""
    made = subprocess.run([DOCHOOKS, "tenant", "create", name, "--json"], capture_output=True, env=env, check=True)
    return str(json.loads(made.stdout)["token"])


def service_env(url: str, workdir: Path) -> dict[str, str]:
    """The environment of the run's `dochooks` commands: its database and data dir."""
    env = {**os.environ, "DOCHOOKS_DATABASE_URL": url, "DOCHOOKS_DATA_DIR": str(workdir / "data")}
    return {**env, "DOCHOOKS_RATE_LIMIT": "0", "DOCHOOKS_ALLOW_PRIVATE_TARGETS": "1"}


@contextlib.contextmanager
def served(env: dict[str, str], workdir: Path, cores: set[int] | None = None) -> Iterator[Service]:
    """`dochooks serve` on a free port (on `cores`, if given) for the block, once /healthz
    answers; its output in workdir/serve.log. Stopped with SIGTERM at the end, as an operator
    would, so that it records what its last requests returned."""
    port = free_port()
    with open(workdir / "serve.log", "wb") as log, on_cores(cores):
        process = subprocess.Popen([DOCHOOKS, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"dochooks serve exited with {process.returncode}; see {workdir / 'serve.log'}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield Service(base, env, process)
    finally:
        process.terminate()
        process.wait(30)


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process and the processes it started (serve's background process) have
    used so far, all their threads, user and system."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended while we looked
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Uploads:
    answers: Counter[int]  # each upload's last answer, by status
    retried: int  # answers of 503 tried again
    documents: list[str]  # the ids the 201 answers gave
    latencies: list[float]  # seconds from each upload's first try to its last answer
    began_ns: int  # time.time_ns() as the first upload went out: the receiver's clock
    seconds: float  # from then to the last answer

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


def check_accepted(verdict: Verdict, uploads: Uploads) -> int:
    """The check that every upload got a 201 (the others listed by their answer); how many did."""
    sent, accepted = sum(uploads.answers.values()), uploads.answers[201]
    others = "".join(f"; {n:,} answered {status}" for status, n in sorted(uploads.answers.items()) if status != 201)
    verdict.check(f"each of the {sent:,} uploads got a 201", accepted == sent, f"{accepted:,} did{others}")
    return accepted


async def upload_documents(
    base: str, tokens: list[str], uploads: int, concurrency: int, document: bytes = DOCUMENT
) -> Uploads:
    """`uploads` JSON:API uploads of `document`, `concurrency` clients at a time, spread over
    the tenants of `tokens`; a 503 is tried again after its Retry-After, as a client should."""
    content = base64.b64encode(document).decode()
    body = json.dumps({"data": {"type": "documents", "attributes": {"files": [{"base64_file": content}]}}})
    headers = [{"Authorization": f"Bearer {t}", "Content-Type": JSON_API} for t in tokens]
    url = f"{base}/v1/documents"
    left, retried = uploads, 0
    answers: Counter[int] = Counter()
    documents: list[str] = []
    latencies: list[float] = []

    async def client(session: aiohttp.ClientSession, headers: dict[str, str]) -> None:
        nonlocal left, retried
        while left > 0:
            left -= 1
            sent = time.perf_counter()
            while True:
                async with session.post(url, data=body, headers=headers) as r:
                    answer = await r.read()
                if r.status != 503:
                    break
                retried += 1
                await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
            latencies.append(time.perf_counter() - sent)
            answers[r.status] += 1
            if r.status == 201:
                documents.append(str(json.loads(answer)["data"]["id"]))

    async with aiohttp.ClientSession() as session:
        began_ns, began = time.time_ns(), time.perf_counter()
        await asyncio.gather(*(client(session, headers[i % len(headers)]) for i in range(concurrency)))
        return Uploads(answers, retried, documents, latencies, began_ns, time.perf_counter() - began)
