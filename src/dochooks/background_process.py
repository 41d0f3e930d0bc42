"""`serve`'s background work (dispatcher, workflow runner) in a process of its own, so that
the API answers within its own budget while the dispatcher keeps hundreds of requests in
flight: the two no longer share one event loop and one GIL, and the operating system's
scheduler, not a queue of callbacks, decides who runs when an upload arrives.

The child dies with its parent (a SIGKILLed `serve` leaves no dispatcher behind holding
SQLite's dispatcher lock). Where the database has no notifications between processes
(SQLite), the parent relays its wake-ups over a pipe: an upload committed by the API
wakes the runner in the child as it would in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from dochooks import logs
from dochooks.errors import ConfigError, StorageError
from dochooks.parent_death import die_with_parent
from dochooks.settings import Settings
from dochooks.signals import Signal, deliveries_queued, webhooks_changed, work_queued

if TYPE_CHECKING:
    from dochooks.runtime import Runtime  # imported in the child only, where it runs

logger = logging.getLogger("dochooks.background")
RELAYED: tuple[Signal, ...] = (work_queued, deliveries_queued, webhooks_changed)  # a byte each: its index
START_SECONDS = 60.0  # for the child to start (imports, migrations checked, the dispatcher lock taken)
STOP_SECONDS = 30.0  # for it to finish what is in flight after SIGTERM, before SIGKILL


def check_nice(settings: Settings) -> None:
    if not 0 <= settings.background_nice <= 19:
        raise ConfigError(f"DOCHOOKS_BACKGROUND_NICE must be 0 to 19, not {settings.background_nice}")


class BackgroundProcess:
    """The child running the background work for as long as the block runs; `done()` tells
    the readiness probe whether it still runs."""

    def __init__(self, settings: Settings, *, relay: bool) -> None:
        check_nice(settings)
        self._settings = settings
        self._relay = relay
        self._process: Any = None  # multiprocessing's SpawnProcess
        self._writer: Connection | None = None
        self._disconnect: list[Callable[[], None]] = []
        self._stopping = False

    def __enter__(self) -> BackgroundProcess:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or loops inherited
        reader, self._writer = context.Pipe(duplex=False)  # wake-ups, parent to child
        started, says_started = context.Pipe(duplex=False)  # one message, child to parent
        self._process = context.Process(
            target=_child, args=(self._settings, reader, says_started), name="dochooks-background"
        )
        self._process.start()
        reader.close()
        says_started.close()
        os.set_blocking(self._writer.fileno(), False)  # a wake-up never blocks a commit
        deadline = time.monotonic() + START_SECONDS
        while not _said(started, 0.05):
            if not self._process.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise StorageError("the background process (dispatcher, workflow runner) did not start; see the log")
        started.close()
        if self._relay:
            self._disconnect = [signal.connect(self._relayer(i)) for i, signal in enumerate(RELAYED)]
        threading.Thread(target=self._watch, name="dochooks-background-watch", daemon=True).start()
        logger.debug("background work runs in process %s", self._process.pid)
        return self

    def _relayer(self, index: int) -> Callable[[], None]:
        news = bytes([index])

        def relay() -> None:
            with contextlib.suppress(OSError):  # full: the child has news pending; closed: no one to wake
                os.write(self._writer.fileno(), news)  # type: ignore[union-attr]

        return relay

    def _watch(self) -> None:
        self._process.join()
        if not self._stopping:
            logger.critical(
                "background work stopped (process %s ended with %s): deliveries and documents no longer move",
                self._process.pid,
                self._process.exitcode,
            )

    def done(self) -> bool:
        return not self._process.is_alive()

    def __exit__(self, *exc_info: object) -> None:
        self._stopping = True
        for disconnect in self._disconnect:
            disconnect()
        if self._process.is_alive():
            self._process.terminate()  # SIGTERM: it finishes what is in flight
            self._process.join(STOP_SECONDS)
            if self._process.is_alive():
                logger.warning("the background process did not stop within %s s; killing it", STOP_SECONDS)
                self._process.kill()
                self._process.join()
        if self._writer is not None:
            self._writer.close()


def _said(conn: Connection, seconds: float) -> bool:
    """Whether a message came within `seconds` (False too if the other end closed without one)."""
    try:
        return conn.poll(seconds) and conn.recv_bytes() == b"started"
    except EOFError:
        return False


def _child(settings: Settings, reader: Connection, started: Connection) -> None:
    die_with_parent()
    os.nice(settings.background_nice)  # the API first: an upload is answered before deliveries go on
    logs.configure(settings.log_level, settings.log_format)
    from dochooks.cli_support import install_uvloop
    from dochooks.runtime import open_runtime

    install_uvloop()
    rt = open_runtime(settings)
    try:
        asyncio.run(_run(rt, reader, started))
    finally:
        rt.close()


async def _run(rt: Runtime, reader: Connection, started: Connection) -> None:
    from dochooks.background import run_background, sole_dispatcher

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C reaches the whole process group
        loop.add_signal_handler(sig, stopping.set)

    def relayed() -> None:
        try:
            news = os.read(reader.fileno(), 4096)
        except BlockingIOError:
            return
        if not news:  # the parent is gone
            loop.remove_reader(reader.fileno())
            stopping.set()
            return
        for index in set(news):
            RELAYED[index].fire()

    os.set_blocking(reader.fileno(), False)
    loop.add_reader(reader.fileno(), relayed)
    with sole_dispatcher(rt):  # raises (and the child exits) beside another dispatcher on one SQLite file
        started.send_bytes(b"started")
        started.close()
        await run_background(rt, stopping)
