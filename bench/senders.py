"""HTTP clients alone, on the delivery workload: which one sends a delivery for the least CPU.

    .venv/bin/python bench/senders.py [--requests 20000] [--rounds 3] [--core 0] [--only NAME ...]

Each candidate POSTs the same delivery-sized JSON body with a delivery's six headers
(Content-Type, User-Agent, Authorization, webhook-id, webhook-timestamp, webhook-signature)
to one host on loopback, the raw receiver of receiver_process.py (its own process), at
the dispatcher's per-host concurrency (`max_per_host` lanes). Each run is a fresh process
pinned to one core (`--core`; the receiver runs on the other cores), so a client's helper
threads (a Rust runtime's, say) share the core with its event loop, as they would share a
dispatcher's. Candidates run in turn, `--rounds` times over (alternating, so the host's
drift hits each alike); each run prints requests/s and CPU µs a request (the client
process, all its threads) and every request must get a 200 the receiver counted.

Candidates: `aiohttp` (bare, as harness.py's baseline), `aiohttp-sender` (the settings the
sender used: no cookie jar, no auto headers, no decompression, the excerpt read),
`pyreqwest` (body read whole) and `pyreqwest-stream` (the sender's way: at most 64 KiB
read), `dochooks-direct` (the service's DirectSender itself, its vetting included: the
address policy strict but for 127.0.0.0/8), and, when installed, `aiosonic` and
`curl-cffi`. A candidate whose package is missing is skipped with a note. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop
from receiver_process import receiver, usage

BODY_SIZE = 520  # a throughput delivery's body, about
EXCERPT = 64 * 1024
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "dochooks/0.1.0",
    "Authorization": "Bearer 5kq0Jm3c1yE8rT2wVn6pLx4bZs9dHf7g",
    "webhook-id": "9f2c3a1b7d6e4f5a8b9c0d1e2f3a4b5c",
    "webhook-timestamp": "1764500000",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
}

Post = Callable[[str, bytes], Awaitable[int]]  # one POST: its status


async def _aiohttp(tuned: bool, concurrency: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=1000, limit_per_host=concurrency)
    if not tuned:
        session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=15))

        async def bare(url: str, body: bytes) -> int:
            async with session.post(url, data=body, headers=HEADERS) as response:
                await response.read()
                return response.status

        return bare, session.close
    session = aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Accept", "Accept-Encoding"),
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
    )

    async def tuned_post(url: str, body: bytes) -> int:
        async with asyncio.timeout(15):
            async with session.post(url, data=body, headers=HEADERS, allow_redirects=False) as response:
                await response.content.read(EXCERPT)
                return response.status

    return tuned_post, session.close


async def _pyreqwest(stream: bool, concurrency: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder

    builder = ClientBuilder().follow_redirects(False).gzip(False).brotli(False).zstd(False).deflate(False)
    client = builder.referer(False).timeout(timedelta(seconds=15)).max_connections(concurrency).build()

    async def whole(url: str, body: bytes) -> int:
        response = await client.post(url).headers(HEADERS).body_bytes(body).build().send()
        return response.status

    async def streamed(url: str, body: bytes) -> int:
        request = client.post(url).headers(HEADERS).body_bytes(body).streamed_read_buffer_limit(EXCERPT)
        async with asyncio.timeout(15), request.build_streamed() as response:
            await response.body_reader.read(EXCERPT)
            return response.status

    return (streamed if stream else whole), client.close


async def _aiosonic(concurrency: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    import aiosonic
    from aiosonic.connectors import TCPConnector
    from aiosonic.pools import PoolConfig

    client = aiosonic.HTTPClient(connector=TCPConnector(pool_configs={":default": PoolConfig(size=concurrency)}))

    async def post(url: str, body: bytes) -> int:
        response = await client.post(url, data=body, headers=HEADERS)
        await response.content()
        return int(response.status_code)

    return post, client.aclose


async def _curl_cffi(concurrency: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    from curl_cffi.requests import AsyncSession

    session = AsyncSession(max_clients=concurrency, allow_redirects=False, timeout=15)

    async def post(url: str, body: bytes) -> int:
        response = await session.post(url, data=body, headers=HEADERS, accept_encoding=None)
        return int(response.status_code)

    return post, session.close


async def _dochooks(concurrency: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    from dochooks.delivery.direct_sender import DirectSender
    from dochooks.delivery.egress import Egress
    from dochooks.settings import Settings
    from dochooks.webhooks.url_safety import AddressPolicy

    policy = AddressPolicy.from_settings(Settings(allow_private_targets=False, allowed_target_cidrs="127.0.0.0/8"))
    sender = DirectSender(timeout=15, max_per_host=concurrency, egress=Egress(policy))

    async def post(url: str, body: bytes) -> int:
        result = await sender.send(url, HEADERS, body)
        return result.status or 0

    return post, sender.close


CANDIDATES: dict[str, Callable[[int], Awaitable[tuple[Post, Callable[[], Awaitable[None]]]]]] = {
    "aiohttp": lambda c: _aiohttp(False, c),
    "aiohttp-sender": lambda c: _aiohttp(True, c),
    "pyreqwest": lambda c: _pyreqwest(False, c),
    "pyreqwest-stream": lambda c: _pyreqwest(True, c),
    "aiosonic": _aiosonic,
    "curl-cffi": _curl_cffi,
    "dochooks-direct": _dochooks,
}
PACKAGES = {
    "aiosonic": "aiosonic",
    "curl-cffi": "curl_cffi",
    "pyreqwest": "pyreqwest",
    "pyreqwest-stream": "pyreqwest",
    "dochooks-direct": "pyreqwest",
}


async def _run(name: str, url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """Seconds and CPU seconds (the process, every thread) for `n` POSTs, and how many got a 200."""
    post, close = await CANDIDATES[name](concurrency)
    body = b'{"x":"' + b"y" * (BODY_SIZE - 8) + b'"}'
    for _ in range(min(concurrency, 200)):  # warm: connections opened, code paths taken
        await post(url, body)
    left, ok = n, 0

    async def lane() -> None:
        nonlocal left, ok
        while left > 0:
            left -= 1
            status = await post(url, body)  # awaited first: `ok += await ...` would read ok before it
            ok += status == 200

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, n))))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    await close()
    return seconds, cpu, ok


def _child(name: str, url: str, n: int, concurrency: int, core: int, out: Any) -> None:
    os.sched_setaffinity(0, {core})
    out.send(uvloop.run(_run(name, url, n, concurrency)))


def measure(name: str, port: int, n: int, concurrency: int, core: int) -> tuple[float, float]:
    """One run of `name` in a process of its own on `core`: requests/s and CPU µs a request."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    before = usage(port)
    process = ctx.Process(target=_child, args=(name, f"http://127.0.0.1:{port}/bench", n, concurrency, core, child))
    process.start()
    seconds, cpu, ok = parent.recv()
    process.join(60)
    counted = usage(port).since(before).requests - min(concurrency, 200)
    if ok != n or counted != n:
        raise SystemExit(f"{name}: {ok:,} of {n:,} got a 200, the receiver counted {counted:,}")
    return n / seconds, cpu / n * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=20_000, help="POSTs per run (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="runs of each candidate, alternating (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=200, help="requests in flight (max_per_host; %(default)s)")
    p.add_argument("--core", type=int, default=0, help="the core each client runs on (default %(default)s)")
    p.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="these candidates only")
    args = p.parse_args(argv)
    names = []
    for name in args.only or list(CANDIDATES):
        try:
            __import__(PACKAGES.get(name, "aiohttp"))
        except ImportError:
            print(f"{name}: skipped, its package is not installed", flush=True)
            continue
        names.append(name)
    others = os.sched_getaffinity(0) - {args.core} or {args.core}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    os.sched_setaffinity(0, others)  # the receiver (started now) stays off the clients' core
    with receiver("raw") as port:
        for round_ in range(1, args.rounds + 1):
            for name in names:
                rate, cpu = measure(name, port, args.requests, args.concurrency, args.core)
                results[name].append((rate, cpu))
                print(f"round {round_} {name:17} {rate:9,.0f} requests/s  {cpu:6.1f} µs CPU a request", flush=True)
    base = statistics.median(rate for rate, _ in results.get("aiohttp", [(1.0, 1.0)]))
    print(f"\n{'candidate':17} {'requests/s (median)':>20} {'µs CPU (median)':>16} {'rate / aiohttp':>15}")
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:17} {rate:20,.0f} {cpu:16.1f} {rate / base:15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
