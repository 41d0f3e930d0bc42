"""One tenant with a valid token against `dochooks serve`, as the adversarial review tried
it: every input whose cost could outgrow its size, in several shapes. The service answers
each with a 4xx (never a 500), keeps serving the other tenant, and stays below 600 MB."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.factories.clients import Api, document_doc, multipart, webhook_doc
from tests.factories.commands import Served, served, tenant, wait_until
from tests.factories.peers import Receiver

MEMORY_CEILING_KB = 600 * 1024


def peak_rss_kb(service: Served) -> int:
    """The most memory the service process has held (VmHWM), in KiB."""
    assert service.proc is not None
    status = Path(f"/proc/{service.proc.pid}/status").read_text()
    (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
    return int(line.split()[1])


def workflow(api: Api, **attributes: Any) -> tuple[int, Any]:
    return api.call("PUT", "/v1/workflow", {"data": {"type": "workflows", "attributes": attributes}})


def nested(depth: int) -> str:
    text = '"leaf"'
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k": {text}}}'
    return text


@pytest.mark.timeout(300)
def test_a_hostile_tenant_gets_4xx_for_everything_costly_and_the_service_stays_up_and_small(
    tmp_path: Path, receiver: Receiver
) -> None:
    db_url = f"sqlite:///{tmp_path}/dochooks.db"
    with served(db_url, tmp_path) as service:
        attacker = Api(service.base, str(tenant(db_url, "attacker", service.env)["token"]))
        bystander = Api(service.base, str(tenant(db_url, "bystander", service.env)["token"]))
        statuses: list[int] = []

        def tried(status: int, body: Any, allowed: tuple[int, ...] = (422,)) -> Any:
            statuses.append(status)
            assert status in allowed, body
            return body

        # Patterns whose compilation would size memory, in every spelling the review and we found.
        for pattern in (
            "a{99999999}",
            "a{1000000}",
            "(?:a{1000}){1000}",
            "(?:(?:a{100}){100}){100}",
            "(?x)a{ 99999999 }",
            "(?x:a #\n{99999999})",
            "[a-z]{99999999}?",
            "(?<=a{99999999})b",
            "(" * 200 + "a" + ")" * 200,
            "(?:ab){e<=99999999}",
        ):
            started = time.monotonic()
            tried(*workflow(attacker, extraction_rules={"invoice": {"total": pattern}}))
            assert time.monotonic() - started < 2, pattern
        tried(*workflow(attacker, classification_rules={f"t{i}": ["k"] * 100 for i in range(100)}))
        tried(
            *workflow(attacker, extraction_rules={f"t{i}": {f"f{j}": "a{1000}" for j in range(50)} for i in range(100)})
        )

        # A pattern that backtracks for ever fails its document, not the service.
        tried(
            *workflow(
                attacker,
                classification_rules={"invoice": ["aaa"]},
                extraction_rules={"invoice": {f"f{i}": rf"(?:(?:a+)+)+{i}" for i in range(50)}},
            ),
            allowed=(200,),
        )
        status, created = attacker.call("POST", "/v1/documents", document_doc(b"a" * 50_000))
        assert status == 201, created
        doc_path = f"/v1/documents/{created['data']['id']}"

        # Deeply nested custom fields, on both ways in.
        for depth in (33, 250, 5000):
            raw = json.dumps(document_doc(b"x", custom_fields="DEEP")).replace('"DEEP"', nested(depth)).encode()
            tried(*attacker.call("POST", "/v1/documents", raw=raw), allowed=(400, 422))
            body, kind = multipart(("file", "a.txt", b"x"), ("custom_fields", None, nested(depth).encode()))
            tried(*attacker.call("POST", "/v1/documents", raw=body, content_type=kind), allowed=(400, 422))

        # Secret header values following a URL elsewhere; URLs and header names that are not what they show.
        status, hook = attacker.call(
            "POST",
            "/v1/webhooks",
            webhook_doc(receiver.url("/ok/hostile"), headers={"Authorization": "Bearer the-tenants-own-secret"}),
        )
        assert status == 201, hook
        tried(
            *attacker.call(
                "PATCH",
                f"/v1/webhooks/{hook['data']['id']}",
                {"data": {"type": "webhooks", "attributes": {"url": "http://127.0.0.2:9/steal"}}},
            )
        )
        for url in ("http://1.1.1.1/\r\nX-Injected: 1", "http://1.1.1.1:0/", "http://1.1.1.1/\u200bx"):
            tried(*attacker.call("POST", "/v1/webhooks", webhook_doc(url)))
        for name in ("Webhook_Signature", "Content_Length", "Transfer-Encoding", "Expect", "Upgrade"):
            tried(*attacker.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/x"), headers={name: "x"})))

        # Meanwhile, and afterwards, the other tenant is served.
        status, _ = bystander.call("POST", "/v1/documents", document_doc(b"Invoice 1\n"))
        assert status == 201
        wait_until(lambda: attacker.call("GET", doc_path)[1]["data"]["attributes"]["status"] == "failed", 60)
        _, failed = attacker.call("GET", doc_path)
        assert "took longer" in failed["data"]["attributes"]["error"]
        assert bystander.call("GET", "/v1/documents")[0] == 200
        assert attacker.call("GET", "/v1/documents")[0] == 200  # every stored document still reads

        # Guessing tokens: slowed down to 429 long before 400 guesses (this address, all of
        # loopback here, then waits for its budget to refill: last, so the rest is not held up).
        guesses = [Api(service.base, f"dh_guess{i}").call("GET", "/v1/webhooks")[0] for i in range(400)]
        assert set(guesses) == {401, 429} and guesses.index(429) <= 25, guesses[:30]
        statuses.extend(guesses)
        assert Api(service.base).call("GET", "/readyz")[0] == 200

        assert service.proc is not None and service.proc.poll() is None
        assert 500 not in statuses
        peak = peak_rss_kb(service)
        assert peak < MEMORY_CEILING_KB, f"peak RSS {peak // 1024} MB"
