"""The `dochooks` command as a user runs it: serve, tenant create, migrate, and the whole
delivery contract through HTTP, with a real receiver on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from dochooks.clock import parse_iso
from dochooks.db import open_database
from dochooks.delivery.signing import verify
from dochooks.webhooks.secrets import signing_key
from tests.factories.clients import Api, document_doc, webhook_doc
from tests.factories.commands import DOCHOOKS, SCALE, Served, cli, served, tenant, wait_until
from tests.factories.documents import PLAIN_FLOW
from tests.factories.peers import Receiver, free_port
from tests.factories.stores import TEST_KEY


def delivery_of(api: Api, hook_id: str) -> dict:  # type: ignore[type-arg]
    _, log = api.call("GET", f"/v1/webhooks/{hook_id}/deliveries")
    return log["data"][0]  # type: ignore[no-any-return]


# Each retry as the service schedules it: a trigger notes what recording a failed attempt
# stores, before a claim overwrites it with the lease's end.
SCHEDULE_TRIGGER = {
    "sqlite": [
        "CREATE TABLE test_schedule (delivery_id BIGINT, attempts INTEGER, due BIGINT)",
        "CREATE TRIGGER test_schedule AFTER UPDATE ON deliveries "
        "WHEN OLD.locked_by IS NOT NULL AND NEW.locked_by IS NULL AND NEW.status = 'pending' "
        "BEGIN INSERT INTO test_schedule VALUES (NEW.id, NEW.attempt_count, NEW.next_attempt_at); END",
    ],
    "postgresql": [
        "CREATE TABLE test_schedule (delivery_id BIGINT, attempts INTEGER, due BIGINT)",
        "CREATE FUNCTION test_schedule() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO test_schedule VALUES (NEW.id, NEW.attempt_count, NEW.next_attempt_at); RETURN NULL; END $$",
        "CREATE TRIGGER test_schedule AFTER UPDATE ON deliveries FOR EACH ROW "
        "WHEN (OLD.locked_by IS NOT NULL AND NEW.locked_by IS NULL AND NEW.status = 'pending') "
        "EXECUTE FUNCTION test_schedule()",
    ],
}


def note_the_schedule(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with db.transaction() as conn:
            for statement in SCHEDULE_TRIGGER[db.dialect.name]:
                conn.run(statement)
    finally:
        db.close()


def scheduled(db_url: str, delivery_id: str) -> dict[int, int]:
    """When each retry of the delivery was due, by the number of attempts made before it."""
    db = open_database(db_url)
    try:
        with db.read() as conn:
            rows = conn.all("SELECT attempts, due FROM test_schedule WHERE delivery_id = :d", {"d": int(delivery_id)})
    finally:
        db.close()
    return {r["attempts"]: r["due"] for r in rows}


def test_the_delivery_contract_end_to_end(db_url: str, tmp_path: Path, receiver: Receiver) -> None:
    # A 30 s poll: a retry sent when it falls due, not when the dispatcher next looks, shows.
    with served(db_url, tmp_path, DOCHOOKS_POLL_INTERVAL="30") as service:
        note_the_schedule(db_url)
        acme, other = tenant(db_url, "acme", service.env), tenant(db_url, "other", service.env)
        api, stranger = Api(service.base, str(acme["token"])), Api(service.base, str(other["token"]))
        headers = {"Authorization": "Bearer receiver-secret-token", "X-Team": "billing"}
        status, created = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/fail/9/a"), headers=headers))
        assert status == 201
        hook = created["data"]
        test = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
        assert api.call("POST", f"/v1/webhooks/{hook['id']}/test", test)[0] == 202

        # 1 attempt + 8 retries, all failing, then `failed`.
        wait_until(lambda: delivery_of(api, hook["id"])["attributes"]["status"] == "failed")
        got = receiver.at("/fail/9/a")
        assert len(got) == 9
        request_ids = {r.headers["webhook-id"] for r in got} | {json.loads(r.body)["request_id"] for r in got}
        assert len(request_ids) == 1
        for r in got:
            assert r.headers["authorization"] == headers["Authorization"] and r.headers["x-team"] == "billing"
            key = signing_key(hook["attributes"]["secret"])
            assert verify(
                key,
                r.headers["webhook-id"],
                int(r.headers["webhook-timestamp"]),
                r.body,
                r.headers["webhook-signature"],
            )
            payload = json.loads(r.body)
            assert payload["type"] == "documents" and payload["topic"] == "document-received"
            assert payload["attributes"]["tenant_id"] == acme["tenant_id"]
        failed = delivery_of(api, hook["id"])["attributes"]
        # Retry n is due n^5 s plus up to 30 s of jitter (times the scale) after attempt n
        # failed, to the ms of rounding (the window is 6 ms wide); it goes out at that time, not
        # before, and promptly, by the log's own clock (ms); as seen by the receiver too.
        # Promptly: woken at its due time, within 500 ms, where the poll would take up to 30 s.
        # The margin is the scheduler's: serve's background process yields the CPU to the API
        # (nice 10), and under CI load a retry went out 151 ms after it was due.
        attempts, due = failed["attempts"], scheduled(db_url, delivery_of(api, hook["id"])["id"])
        assert sorted(due) == list(range(1, 9))
        for n in range(1, 9):
            waited = due[n] - (parse_iso(attempts[n - 1]["started_at"]) + attempts[n - 1]["duration_ms"])
            assert SCALE * n**5 * 1000 - 0.5 <= waited <= SCALE * (n**5 + 30) * 1000 + 0.5, (n, waited)
            assert 0 <= parse_iso(attempts[n]["started_at"]) - due[n] <= 500, (n, attempts[n], due[n])
            assert got[n].at - got[n - 1].at >= SCALE * n**5 - 0.01, n
        assert [a["number"] for a in failed["attempts"]] == list(range(1, 10))
        assert all(a["response_status"] == 500 for a in failed["attempts"])
        assert failed["attempts"][0]["request_headers"]["Authorization"] != headers["Authorization"]

        # A manual retry of the failed delivery goes through, with the same request_id.
        delivery_id = delivery_of(api, hook["id"])["id"]
        assert api.call("POST", f"/v1/deliveries/{delivery_id}/retry")[0] == 202
        wait_until(lambda: delivery_of(api, hook["id"])["attributes"]["status"] == "succeeded")
        assert receiver.at("/fail/9/a")[-1].headers["webhook-id"] in request_ids

        # A redirect is a failed attempt and is not followed.
        _, redirect = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/redirect/b")))
        api.call("POST", f"/v1/webhooks/{redirect['data']['id']}/test", test)
        wait_until(lambda: bool(delivery_of(api, redirect["data"]["id"])["attributes"]["attempts"]))
        first = delivery_of(api, redirect["data"]["id"])["attributes"]["attempts"][0]
        assert first["response_status"] == 302 and receiver.at("/ok/redirected") == []

        # The other tenant sees none of it.
        assert stranger.call("GET", f"/v1/webhooks/{hook['id']}")[0] == 404
        assert stranger.call("GET", f"/v1/deliveries/{delivery_id}")[0] == 404
        assert stranger.call("POST", f"/v1/deliveries/{delivery_id}/retry")[0] == 404
        assert stranger.call("GET", "/v1/webhooks")[1]["data"] == []


def test_migrate_is_idempotent_and_help_names_every_environment_twin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    env = dict(os.environ)
    assert "applied 0001_initial" in cli(url, "migrate", env=env)
    assert "applied" not in cli(url, "migrate", env=env)
    help_text = subprocess.run([DOCHOOKS, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    for name in (
        "DATABASE_URL",
        "DATA_DIR",
        "SECRET_KEY",
        "DELIVERY_TIMEOUT",
        "RETRY_TIME_SCALE",
        "ALLOW_PRIVATE_TARGETS",
    ):
        assert f"DOCHOOKS_{name}" in help_text


def test_a_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([DOCHOOKS, "migrate", "--database-url", "mysql://x"], capture_output=True, text=True)
    assert done.returncode != 0 and "unsupported database URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_kill_in_the_middle_of_the_workflow_loses_nothing_and_repeats_no_topic(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    extracting = tmp_path / "extraction-started"
    slow = {"DOCHOOKS_PROCESSORS": "tests.e2e.slow_processors:PROCESSORS", "SLOW_EXTRACT_STARTED": str(extracting)}
    with served(db_url, tmp_path, **slow) as service:
        acme = tenant(db_url, "acme", service.env)
        api = Api(service.base, str(acme["token"]))
        assert api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/all"), list(PLAIN_FLOW)))[0] == 201
        status, doc = api.call("POST", "/v1/documents", document_doc(b"Invoice 9", external_id="KILL-1"))
        assert status == 201
        doc_id = doc["data"]["id"]
        wait_until(extracting.exists, 30)
        service.kill()  # extraction has started, and takes 2 s
        assert "automatic-extraction-done" not in topics_received(receiver)
        service.start()
        wait_until(lambda: "processing-finished" in topics_received(receiver), 30)
        assert extracting.read_text() == "started\n" * 2  # killed halfway, then done again from its start
        _, events = api.call("GET", f"/v1/documents/{doc_id}/events")
        assert [e["attributes"]["topic"] for e in events["data"]] == list(PLAIN_FLOW)
        by_topic: dict[str, set[str]] = {}
        for r in receiver.at("/ok/all"):
            payload = json.loads(r.body)
            by_topic.setdefault(payload["topic"], set()).add(payload["request_id"])
        assert {topic: len(ids) for topic, ids in by_topic.items()} == dict.fromkeys(PLAIN_FLOW, 1)
        assert api.call("GET", f"/v1/documents/{doc_id}")[1]["data"]["attributes"]["status"] == "done"


def topics_received(receiver: Receiver) -> list[str]:
    return [json.loads(r.body)["topic"] for r in receiver.at("/ok/all")]


METRICS_TOKEN = "metrics-token-9d2e41"


def metrics_status(base: str, token: str | None = None) -> int:
    request = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_serve_puts_metrics_behind_the_token_and_on_their_own_port(db_url: str, tmp_path: Path) -> None:
    with served(db_url, tmp_path, DOCHOOKS_METRICS_TOKEN=METRICS_TOKEN) as service:
        assert metrics_status(service.base) == 401
        assert metrics_status(service.base, "wrong") == 401
        assert metrics_status(service.base, METRICS_TOKEN) == 200
    port = free_port()
    own = f"http://127.0.0.1:{port}"
    with served(db_url, tmp_path, DOCHOOKS_METRICS_TOKEN=METRICS_TOKEN, DOCHOOKS_METRICS_PORT=str(port)) as service:
        assert metrics_status(service.base, METRICS_TOKEN) == 404  # no longer on the API's port
        assert metrics_status(own) == 401
        assert metrics_status(own, METRICS_TOKEN) == 200
    log = (tmp_path / "serve.log").read_text()
    assert f"metrics at {own}/metrics (bearer token required)" in log
    assert METRICS_TOKEN not in log


def test_a_worker_serves_metrics_on_its_port_behind_the_token(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DOCHOOKS_DATA_DIR": str(tmp_path / "data"),
        "DOCHOOKS_SECRET_KEY": TEST_KEY,
        "DOCHOOKS_METRICS_PORT": str(port),
        "DOCHOOKS_METRICS_TOKEN": METRICS_TOKEN,
    }
    own = f"http://127.0.0.1:{port}"
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [DOCHOOKS, "worker", "--database-url", db_url], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        wait_until(lambda: worker.poll() is not None or metrics_status_or_none(own) is not None, 30)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        assert metrics_status(own) == 401
        assert metrics_status(own, "wrong") == 401
        assert metrics_status(own, METRICS_TOKEN) == 200
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    log_text = (tmp_path / "worker.log").read_text()
    assert f"metrics at {own}/metrics (bearer token required)" in log_text
    assert METRICS_TOKEN not in log_text


def metrics_status_or_none(base: str) -> int | None:
    """The status of an unauthenticated scrape, or None while nothing listens."""
    try:
        return metrics_status(base)
    except OSError:
        return None


def test_the_data_directory_and_the_database_files_are_private_to_the_service_user(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "state" / "dochooks.db"
    with served(f"sqlite:///{db}", tmp_path) as service:
        acme = tenant(f"sqlite:///{db}", "acme", service.env)
        api = Api(service.base, str(acme["token"]))
        hook = api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/modes")))[1]["data"]
        test = {"data": {"type": "webhook_tests", "attributes": {"topic": "document-received"}}}
        assert api.call("POST", f"/v1/webhooks/{hook['id']}/test", test)[0] == 202
        assert api.call("POST", "/v1/documents", document_doc(b"Invoice 1"))[0] == 201
        receiver.wait_for("/ok/modes", 1)
        wait_until(lambda: delivery_of(api, hook["id"])["attributes"]["status"] == "succeeded")
        running = {p.name: mode(p) for p in db.parent.iterdir()}
    # While it runs, SQLite's companions exist: made by SQLite with the database file's mode.
    assert {"dochooks.db", "dochooks.db-wal", "dochooks.db-shm", "dochooks.db.dispatcher.lock"} <= set(running)
    assert all(m & 0o077 == 0 for m in running.values()), running
    made = [db.parent, *db.parent.iterdir(), tmp_path / "data"]
    for root, dirs, files in os.walk(tmp_path / "data"):
        made += [Path(root, name) for name in dirs + files]
    assert tmp_path / "data" / "secret.key" in made
    assert any(p.parent.parent.name == "documents" for p in made)  # the uploaded document's file
    assert {str(p.relative_to(tmp_path)): oct(mode(p)) for p in made if mode(p) & 0o077} == {}


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def spawned_by(pid: int) -> list[int]:
    """The living processes `pid` started through multiprocessing (not its resource tracker;
    zombies left to a non-reaping init excluded)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # it ended while we looked
            continue
        if fields[0] != "Z" and int(fields[1]) == pid and b"multiprocessing.spawn" in command:
            found.append(int(stat.parent.name))
    return found


def test_serve_runs_its_background_work_in_a_process_that_dies_with_it(
    db_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    """The dispatcher and workflow runner run in a child of `serve`: an upload through the API
    wakes the runner there at once (the poll is 30 s here, so a lost wake-up would show), it
    yields the CPU to the API (nice 10), the
    child's attempts count on the API's /metrics, a SIGKILL of `serve` takes the child with
    it (so `serve` starts again at once on the same database), and a child that died makes
    /readyz answer 503."""
    service = Served(db_url, tmp_path, DOCHOOKS_POLL_INTERVAL="30", DOCHOOKS_METRICS_TOKEN=METRICS_TOKEN)
    service.start()
    try:
        assert service.proc is not None
        (child,) = spawned_by(service.proc.pid)
        assert nice_of(child) - nice_of(service.proc.pid) == 10  # the API first (DOCHOOKS_BACKGROUND_NICE)
        acme = tenant(db_url, "acme", service.env)
        api = Api(service.base, str(acme["token"]))
        assert api.call("POST", "/v1/webhooks", webhook_doc(receiver.url("/ok/all"), ["processing-finished"]))[0] == 201
        assert api.call("POST", "/v1/documents", document_doc(b"Invoice 7\n"))[0] == 201
        wait_until(lambda: len(receiver.at("/ok/all")) == 1, timeout=10)

        bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        request = urllib.request.Request(service.base + "/metrics", headers=bearer)
        with urllib.request.urlopen(request, timeout=5) as response:
            scraped = response.read().decode()
        assert 'dochooks_delivery_attempts_total{outcome="succeeded"} 1.0' in scraped.splitlines()

        service.kill()
        wait_until(lambda: not any(int(p) == child for p in os.listdir("/proc") if p.isdigit()) or is_zombie(child), 10)
        service.start()
        assert service.proc is not None
        (child,) = spawned_by(service.proc.pid)
        os.kill(child, signal.SIGKILL)  # the background work dies, the API lives on: not ready
        wait_until(lambda: readiness(service.base)[0] == 503, 10)
        assert "the background work (dispatcher, workflow runner) has stopped" in readiness(service.base)[1]
        # /readyz asks whether the child lives; the watcher thread writes its line just after.
        wait_until(lambda: f"background work stopped (process {child} ended with -9)" in service.log.read_text(), 10)
    finally:
        service.stop()


def readiness(base: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
