"""`dochooks listen --pull` as a subprocess against a live service, on both stores: every
event once and in order across pages, the resume cursor it prints taken up by `--since`
without repeats, forwarding signed like a delivery, and the feed's refusals as exit 1."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dochooks_receiver import DocumentEvent, verify

from dochooks.events import horizon
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.webhooks.secrets import new_signing_secret
from tests.factories.clients import Api
from tests.factories.commands import DOCHOOKS, wait_until
from tests.factories.peers import Receiver
from tests.factories.stores import make_tenant
from tests.integration.test_event_feed import publish_events

RESUME = re.compile(r"--since (\S+)$")


@dataclass
class Pulling:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    def resume_cursors(self) -> list[str]:
        return [m[1] for line in self.err.read_text().splitlines() if (m := RESUME.search(line))]


@contextmanager
def pulling(tmp_path: Path, service: str, token: str, *args: str, as_json: bool = True) -> Iterator[Pulling]:
    """`listen --pull --json` with the token from the environment, stopped by SIGTERM at the block's end."""
    n = len(list(tmp_path.glob("pull-*.out")))
    out, err = tmp_path / f"pull-{n}.out", tmp_path / f"pull-{n}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        json_flag = ["--json"] if as_json else []
        command = [DOCHOOKS, "listen", "--pull", *json_flag, "--interval", "0.2", "--api-url", service, *args]
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env={**os.environ, "DOCHOOKS_TOKEN": token})
    pulled = Pulling(proc, out, err)
    try:
        yield pulled
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def ended(pulled: Pulling) -> tuple[int, str]:
    pulled.proc.wait(20)
    return pulled.proc.returncode, pulled.err.read_text()


def test_every_event_comes_once_in_order_and_the_printed_cursor_resumes_without_repeats(
    runtime: Runtime, service: str, acme: NewTenant, tmp_path: Path
) -> None:
    first = publish_events(runtime, acme.tenant_id, 130)  # more than a page of 100
    with pulling(tmp_path, service, acme.token) as pulled:
        wait_until(lambda: len(pulled.lines()) == 130, timeout=30)
        later = publish_events(runtime, acme.tenant_id, 5)
        wait_until(lambda: len(pulled.lines()) == 135, timeout=30)
        wait_until(lambda: bool(pulled.resume_cursors()), timeout=10)
    assert pulled.proc.returncode == 0
    lines = pulled.lines()
    assert [line["event_id"] for line in lines] == [str(i) for i in first + later]
    assert all(line["webhook_id"] == line["event_id"] for line in lines)  # what a forward's webhook-id is
    assert {line["topic"] for line in lines} == {"document-received"} and lines[0]["verified"] == "feed"
    assert lines[-1]["cursor"] and lines[-1]["cursor"] == pulled.resume_cursors()[-1]
    assert "stopped" in pulled.err.read_text()

    resume = pulled.resume_cursors()[-1]
    newer = publish_events(runtime, acme.tenant_id, 3)
    with pulling(tmp_path, service, acme.token, "--since", resume) as again:
        wait_until(lambda: len(again.lines()) >= 3, timeout=30)
    assert [line["event_id"] for line in again.lines()] == [str(i) for i in newer]


def test_without_json_each_event_is_a_timestamped_line_like_a_deliverys_and_notes_go_to_stdout(
    runtime: Runtime, service: str, acme: NewTenant, tmp_path: Path
) -> None:
    ids = publish_events(runtime, acme.tenant_id, 2)
    with pulling(tmp_path, service, acme.token, as_json=False) as pulled:
        wait_until(lambda: pulled.out.read_text().count("from the event feed") == 2, timeout=30)
    lines = pulled.out.read_text().splitlines()
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} ", line) for line in lines), lines
    events = [line for line in lines if "from the event feed" in line]
    assert [line.split("  event ")[1].split()[0] for line in events] == [str(i) for i in ids]
    assert all("document-received" in line and "document 42" in line for line in events)
    assert any("resume from here with: --since " in line for line in lines) and pulled.err.read_text() == ""


def test_a_forwarded_event_verifies_at_the_app_like_a_delivery(
    runtime: Runtime, service: str, acme: NewTenant, receiver: Receiver, tmp_path: Path
) -> None:
    secret = new_signing_secret()
    (event_id,) = publish_events(runtime, acme.tenant_id, 1)
    args = ("--forward-to", receiver.url("/ok/app"), "--secret", secret)
    with pulling(tmp_path, service, acme.token, *args) as pulled:
        (got,) = receiver.wait_for("/ok/app", 1)
        wait_until(lambda: bool(pulled.lines()), timeout=10)
    event = verify(secret, got.headers, got.body)  # the receiver module: standard library only
    assert isinstance(event, DocumentEvent) and event.request_id == got.headers["webhook-id"] == str(event_id)
    assert event.id == "42" and event.topic == "document-received"
    assert got.headers["content-type"] == "application/json" and got.headers["dochooks-request-ids"] == ""
    (line,) = pulled.lines()
    assert line["forwarded"] == 200 and line["event_id"] == str(event_id)


def test_an_app_that_fails_gets_the_same_event_again_before_the_next(
    runtime: Runtime, service: str, acme: NewTenant, receiver: Receiver, tmp_path: Path
) -> None:
    ids = publish_events(runtime, acme.tenant_id, 2)
    with pulling(tmp_path, service, acme.token, "--forward-to", receiver.url("/fail/2/app")) as pulled:
        receiver.wait_for("/fail/2/app", 4)
    got = [r.headers["webhook-id"] for r in receiver.at("/fail/2/app")]
    assert got[:4] == [str(ids[0])] * 3 + [str(ids[1])]
    assert [line["forwarded"] for line in pulled.lines()][:4] == [500, 500, 200, 200]


def test_a_refused_token_another_tenants_cursor_and_an_expired_cursor_exit_1_saying_why(
    runtime: Runtime, service: str, acme: NewTenant, tmp_path: Path
) -> None:
    with pulling(tmp_path, service, "dh_not-a-token") as refused:
        code, err = ended(refused)
    assert code == 1 and "the token was refused (401)" in err
    with pulling(tmp_path, service, acme.token, "--since", "not-a-cursor") as malformed:
        code, err = ended(malformed)
    assert code == 1 and "400" in err and "is not a cursor this feed gave out" in err

    other = make_tenant(runtime.db, "globex")
    publish_events(runtime, other.tenant_id, 1)
    status, page = Api(service, other.token).call("GET", "/v1/events")
    assert status == 200
    with pulling(tmp_path, service, acme.token, "--since", page["meta"]["cursor"]) as theirs:
        code, err = ended(theirs)
    assert code == 1 and "another tenant's" in err

    ids = publish_events(runtime, acme.tenant_id, 3)
    status, page = Api(service, acme.token).call("GET", "/v1/events?page[size]=1")
    with runtime.db.transaction() as conn:  # what retention does: delete the oldest, move the horizon
        deleted = conn.all(
            f"DELETE FROM events WHERE id IN (:a, :b) RETURNING {horizon.deleted_columns(conn)}",
            {"a": ids[0], "b": ids[1]},
        )
        horizon.advance(conn, deleted)
    with pulling(tmp_path, service, acme.token, "--since", page["meta"]["cursor"]) as expired:
        code, err = ended(expired)
    assert code == 1 and "is older than the feed keeps" in err
    resume = RESUME.search(err.strip().splitlines()[-1])
    assert resume is not None
    with pulling(tmp_path, service, acme.token, "--since", resume[1]) as resumed:
        wait_until(lambda: bool(resumed.lines()), timeout=30)
    assert [line["event_id"] for line in resumed.lines()] == [str(ids[2])]
