"""`dochooks demo`: a throwaway service (the real `dochooks serve`, as a child process, on a
temporary SQLite file and data dir), a listener verifying with the webhook's secret, a
tenant, a webhook on every topic and a sample PDF; Ctrl-C stops it all and removes the files."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import aiohttp
from aiohttp import web

from dochooks.cli_trigger import Api
from dochooks.db import migrate, open_database
from dochooks.errors import DochooksError
from dochooks.receiver import make_app
from dochooks.tenants import create_tenant
from dochooks.topics import ALL_TOPICS

HOST = "127.0.0.1"
READY_SECONDS = 60.0


def sample_pdf(text: str = "Invoice 1001 - dochooks demo") -> bytes:
    """A one-page PDF whose page says `text` (in Helvetica), with a correct cross-reference table."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start_service(workdir: Path, db_url: str, port: int) -> subprocess.Popen[bytes]:
    """`dochooks serve` as a child process in a session of its own: the terminal's Ctrl-C reaches
    only the demo, which stops the service itself. Its log goes to a file in `workdir`."""
    env = {
        # none of the shell's DOCHOOKS_* settings (an S3 file store, a metrics port): the demo is throwaway
        **{name: value for name, value in os.environ.items() if not name.startswith("DOCHOOKS_")},
        "DOCHOOKS_DATABASE_URL": db_url,
        "DOCHOOKS_DATA_DIR": str(workdir / "data"),
        "DOCHOOKS_ALLOW_PRIVATE_TARGETS": "1",
        "DOCHOOKS_HOST": HOST,
        "DOCHOOKS_PORT": str(port),
        # serve's own temporary metrics directory outlives it after a SIGTERM; this one goes with `workdir`
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    (workdir / "metrics").mkdir()
    with open(workdir / "serve.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "from dochooks.cli import main; main()", "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )


async def _wait_ready(service: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
        while True:
            if service.poll() is not None:
                raise DochooksError(f"the demo service stopped at start:\n{log.read_text(errors='replace')}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(base + "/readyz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise DochooksError(f"the demo service was not ready within {READY_SECONDS:g} s")
            await asyncio.sleep(0.05)


def _stop_service(service: subprocess.Popen[bytes]) -> None:
    if service.poll() is None:
        # SIGINT, as Ctrl-C in a terminal: uvicorn re-raises a SIGTERM after its shutdown,
        # which ends serve before its own clean-up (closing the database) runs
        service.send_signal(signal.SIGINT)
        try:
            service.wait(20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


async def _demo(workdir: Path, out: TextIO) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    db_url = f"sqlite:///{workdir / 'demo.db'}"
    db = open_database(db_url)
    try:
        migrate(db)
        with db.transaction() as conn:
            token = create_tenant(conn, "demo").token
    finally:
        db.close()

    api_port, listen_port = _free_port(), _free_port()
    secrets: list[str] = []  # the webhook's, once it exists: the listener reads it at each delivery
    runner = web.AppRunner(make_app(secrets=secrets, brief=True, out=out), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, listen_port).start()
    service = _start_service(workdir, db_url, api_port)
    setting_up = asyncio.ensure_future(_set_up(service, workdir, api_port, listen_port, token, secrets, out))
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({setting_up, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if setting_up.done():
            setting_up.result()  # raises what went wrong, if anything did
            await stopped
    finally:  # Ctrl-C may come while it sets up: stop that, then the service
        setting_up.cancel()
        stopped.cancel()
        await asyncio.to_thread(_stop_service, service)
        await runner.cleanup()


async def _set_up(
    service: subprocess.Popen[bytes],
    workdir: Path,
    api_port: int,
    listen_port: int,
    token: str,
    secrets: list[str],
    out: TextIO,
) -> None:
    """Once the service is ready: the webhook on every topic to the listener, what to play
    with, and the sample PDF uploaded."""
    base = f"http://{HOST}:{api_port}"
    await _wait_ready(service, base, workdir / "serve.log")
    api = Api(base, token)
    topics = [t.value for t in ALL_TOPICS]
    hook = {"name": "demo listener", "url": f"http://{HOST}:{listen_port}/hooks", "topics": topics}
    made = await asyncio.to_thread(api.call, "POST", "/v1/webhooks", {"data": {"type": "webhooks", "attributes": hook}})
    secrets.append(made["data"]["attributes"]["secret"])
    out.write(
        f"dochooks demo (temporary files in {workdir}; the service's log in serve.log there)\n"
        f"  API:     {base}/v1  (docs at {base}/docs)\n"
        f"  web UI:  {base}/  (sign in with the token)\n"
        f"  token:   {token}\n"
        f"  webhook: {made['data']['id']} on all {len(topics)} topics -> the listener on "
        f"http://{HOST}:{listen_port}/hooks, secret {secrets[0]}\n"
        "uploading a sample PDF; its deliveries follow, verified with the secret. Ctrl-C stops the demo.\n"
    )
    out.flush()
    pdf = base64.b64encode(sample_pdf()).decode()
    upload = {"data": {"type": "documents", "attributes": {"files": [{"base64_file": pdf}]}}}
    await asyncio.to_thread(api.call, "POST", "/v1/documents", upload)


def run_demo(out: TextIO = sys.stdout) -> None:
    """Run the demo until SIGINT or SIGTERM, then stop the service and remove its files."""
    workdir = Path(tempfile.mkdtemp(prefix="dochooks-demo-"))
    try:
        with contextlib.suppress(KeyboardInterrupt):  # a Ctrl-C before the handlers are in place
            asyncio.run(_demo(workdir, out))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out.write("demo stopped; its temporary files are removed\n")
