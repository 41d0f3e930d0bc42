"""`dochooks serve` keeps its memory bounded under a burst of large uploads: sixteen 25 MiB
JSON:API uploads at once from two tenants (every upload slot of the default), then sixteen
multipart ones. Those beyond the slots get 503 (the bound doing its job); the rest are
stored; the process never grows past 600 MB."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from tests.factories.clients import Api
from tests.factories.commands import served, tenant

MIB = 2**20
PEAK_RSS_LIMIT = 600 * 10**6
AT_ONCE = 16  # every upload slot of the default, held by two tenants


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def post(base: str, token: str, body: bytes, kind: str) -> str:
    """One upload as a plain client sends it (Content-Length, the whole body): a refused one
    still reads its 503, because the server reads and drops the rest of the body."""
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=120)
    try:
        conn.request(
            "POST", "/v1/documents", body=body, headers={"Authorization": f"Bearer {token}", "Content-Type": kind}
        )
        response = conn.getresponse()
        response.read()
        return str(response.status)
    finally:
        conn.close()


def burst(base: str, tokens: list[str], body: bytes, kind: str) -> Counter[str]:
    """AT_ONCE uploads started together, spread over the tenants' tokens."""
    outcomes: Counter[str] = Counter()
    start = threading.Barrier(AT_ONCE)

    def one(token: str) -> None:
        start.wait()
        outcomes[post(base, token, body, kind)] += 1

    threads = [threading.Thread(target=one, args=(tokens[i % len(tokens)],)) for i in range(AT_ONCE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_memory_stays_bounded_under_concurrent_25_mib_uploads(db_url: str, tmp_path: Path) -> None:
    content = os.urandom(25 * MIB)
    as_json = json.dumps(
        {"data": {"type": "documents", "attributes": {"files": [{"base64_file": base64.b64encode(content).decode()}]}}}
    ).encode()
    boundary = "memory-test-boundary"
    as_form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'.encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    with served(db_url, tmp_path) as service:
        assert service.proc is not None
        # Two tenants: together they may hold every upload slot, one alone only half.
        tokens = [str(tenant(db_url, name, service.env)["token"]) for name in ("acme", "globex")]
        json_outcomes = burst(service.base, tokens, as_json, "application/vnd.api+json")
        form_outcomes = burst(service.base, tokens, as_form, f"multipart/form-data; boundary={boundary}")
        peak = peak_rss(service.proc.pid)
        print(f"JSON: {dict(json_outcomes)}, multipart: {dict(form_outcomes)}, peak RSS {peak / 10**6:.0f} MB")
        for outcomes in (json_outcomes, form_outcomes):
            assert set(outcomes) <= {"201", "503"} and outcomes["201"] >= 1, outcomes
        apis = [Api(service.base, token) for token in tokens]
        assert apis[0].call("GET", "/readyz")[0] == 200
        listed = sum(api.call("GET", "/v1/documents")[1]["meta"]["total"] for api in apis)
        assert listed == json_outcomes["201"] + form_outcomes["201"]
        assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / 10**6:.0f} MB"
