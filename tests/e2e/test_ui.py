"""The web UI in a real Chromium (Debian's, driven by Playwright) against the real service
and a real receiver on loopback: what a new user does, page by page. Every page is saved as
a screenshot at 1280 and 390 px wide (in test-artifacts/screenshots, or $DOCHOOKS_SCREENSHOTS)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from dochooks.delivery.publish import publish
from dochooks.runtime import Runtime, open_runtime
from dochooks.tenants import NewTenant
from dochooks.ui.sessions import SESSION_COOKIE
from dochooks.webhooks import store
from tests.factories.clients import live_service
from tests.factories.documents import make_pdf
from tests.factories.peers import Receiver
from tests.factories.recoveries import settled_deliveries
from tests.factories.stores import make_settings, make_tenant, make_webhook

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DOCHOOKS_SCREENSHOTS") or REPO / "test-artifacts" / "screenshots")
SCALE = 0.00005  # every retry delay times this: all 8 retries of a delivery take about 3 s
SECRET = "Bearer receiver-secret-0123456789"
WIDTHS = (1280, 390)
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def ui(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Runtime]]:
    """The service (API, UI, dispatcher, workflow runner) on a free port, with fast retries."""
    rt = open_runtime(make_settings(tmp_path, db_url, retry_time_scale=SCALE))
    with live_service(rt) as base:
        yield base, rt
    rt.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


def shoot(page: Page, name: str) -> None:
    """Save the page at each width, and check that nothing is wider than the screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{name} is {overflow} px wide at {width} px"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def sign_in(page: Page, base: str, tenant: NewTenant) -> None:
    page.goto(base + "/sign-in")
    page.get_by_label("API token").fill(tenant.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/development/webhooks")


def live_refreshes(page: Page, fragment: str, count: int = 2) -> None:
    """Wait for `count` live-refresh fetches of `fragment`: the page has swapped in all but the last."""
    for _ in range(count):
        with page.expect_response(lambda response: fragment in response.url, timeout=10_000):
            pass


def attempts_of(item: object) -> int:
    found = re.search(r"(\d+) attempts?", item.inner_text())  # type: ignore[attr-defined]
    assert found
    return int(found[1])


def test_a_new_user_adds_a_webhook_and_guides_a_document_through_the_workflow(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver, db_url: str
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db, "acme")
    kind = "pg" if db_url.startswith("postgresql") else "sqlite"

    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    shoot(page, "sign-in")
    page.get_by_label("API token").fill("dh_wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#token-error")).to_have_text("This API token is not valid.")
    sign_in(page, base, tenant)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["value"] != tenant.token
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_contain_text("Development")
    expect(nav.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
    shoot(page, "webhooks-empty")

    # + Webhook: a custom Authorization header and two topics
    page.get_by_role("link", name="+ Webhook").click()
    page.get_by_label("Name", exact=True).fill("ERP")
    page.get_by_label("URL", exact=True).fill(receiver.url("/fail/1/erp"))  # its first answer is a 500
    page.get_by_label("Header name").first.fill("Authorization")
    page.get_by_label("Header value").first.fill(SECRET)
    page.get_by_label("DOCUMENT RECEIVED", exact=True).check()
    page.get_by_label("PREPROCESSING DONE", exact=True).check()
    shoot(page, "webhook-form")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook added")
    expect(page.get_by_role("heading", name="ERP")).to_be_visible()
    expect(page.locator(".summary")).to_contain_text("Authorization: ********6789")
    page.evaluate("window.neverReloaded = true")

    # Meanwhile, in a second tab: a validation level, then an upload.
    tab = page.context.new_page()
    tab.goto(base + "/development/workflow")
    tab.get_by_role("group", name="Classification").get_by_label("1st level").check()
    shoot(tab, "workflow")
    tab.get_by_role("button", name="Save workflow").click()
    expect(tab.get_by_role("status")).to_have_text("Saved.")
    tab.get_by_role("navigation", name="Main").get_by_role("link", name="Documents").click()
    shoot(tab, "documents-empty")
    tab.get_by_label("File").set_input_files(
        {"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": make_pdf("Invoice 4711 total 42")}
    )
    tab.get_by_label("External id (optional)").fill("EX-4711")
    tab.get_by_label("Field name").first.fill("customer")
    tab.get_by_label("Field value").first.fill("ACME")
    tab.get_by_role("button", name="Upload document").click()
    expect(tab.get_by_role("status")).to_contain_text("Document uploaded")
    tab.evaluate("window.neverReloaded = true")
    expect(tab.get_by_role("heading", name="Validation task")).to_be_visible()  # arrives by live refresh
    timeline = tab.locator(".timeline")
    expect(timeline).to_contain_text("READY FOR CLASSIFICATION FIRST LEVEL")
    expect(timeline).to_contain_text("DOCUMENT RECEIVED")
    expect(tab.locator(".summary")).to_contain_text("customer: ACME")
    shoot(tab, "document-waiting")

    # Back in the first tab, the deliveries arrive in the log without a reload.
    log = page.locator("#delivery-log")
    expect(log.locator('.delivery[data-status="succeeded"]')).to_have_count(2)
    assert page.evaluate("window.neverReloaded") is True
    for item in log.locator(".delivery").all():
        item.get_by_text("Attempts and payload").click()
    expect(log).to_contain_text("not yet")  # the 500's body, in the attempt that failed
    expect(log.locator("table.headers").first).to_contain_text("********6789")
    expect(log).to_contain_text("webhook-signature")
    live_refreshes(page, "/deliveries")  # the open details stay open
    expect(log.locator("details[open]")).to_have_count(2)
    assert SECRET not in page.content()
    received = receiver.wait_for("/fail/1/erp", 3)
    assert {r.headers["authorization"] for r in received} == {SECRET}
    shoot(page, f"delivery-log-{kind}")

    # Resend one: the same request id again, one attempt more.
    item = log.locator(".delivery", has_text="PREPROCESSING DONE")
    before = attempts_of(item)
    request_id = item.locator(".request-id").inner_text()
    item.get_by_role("button", name="Resend").click()
    expect(page.get_by_role("status")).to_contain_text("Delivery queued again")
    expect(log.locator(".delivery", has_text="PREPROCESSING DONE")).to_contain_text(f"{before + 1} attempts")
    assert receiver.wait_for("/fail/1/erp", 4)[-1].headers["webhook-id"] == request_id

    # Complete the validation: the document runs to the end, shown live.
    tab.get_by_role("button", name="Complete validation").click()
    expect(tab.get_by_role("status")).to_contain_text("Validation completed")
    expect(tab.locator(".timeline")).to_contain_text("PROCESSING FINISHED")
    expect(tab.locator(".summary .badge")).to_have_text("done")
    expect(tab.get_by_role("heading", name="Validation task")).to_have_count(0)
    shoot(tab, "document-done")
    tab.goto(base + "/documents")
    expect(tab.locator("table.documents")).to_contain_text("EX-4711")
    shoot(tab, "documents")
    page.goto(base + "/development/webhooks")
    expect(page.locator("table.webhooks")).to_contain_text("2 succeeded")
    shoot(page, "webhooks")
    page.goto(base + "/documents/999999")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    shoot(page, "not-found")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto(base + "/documents")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fdocuments$"))
    assert [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE] == []


def no_dialogs(page: Page) -> list[str]:
    """The dialogs the page opens from now on (a reload of a post's answer asks to send it again)."""
    seen: list[str] = []

    def dismissed(dialog: Dialog) -> None:
        seen.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismissed)
    return seen


def reloaded(page: Page) -> None:
    """Reload as the browser's button does: a GET of the address, nothing sent again."""
    answer = page.reload()
    assert answer is not None and answer.request.method == "GET" and answer.status == 200
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "reload"


@SQLITE_ONLY
def test_form_errors_stand_next_to_their_fields_keep_the_input_and_survive_a_reload(
    page: Page, ui: tuple[str, Runtime]
) -> None:
    base, rt = ui
    sign_in(page, base, make_tenant(rt.db))
    dialogs = no_dialogs(page)
    page.goto(base + "/development/webhooks/new")
    page.get_by_label("Name", exact=True).fill("ERP")
    page.get_by_label("URL", exact=True).fill("erp.example.com/hooks")
    page.get_by_label("Header name").first.fill("X-Api-Key")
    page.get_by_label("Header value").first.fill("typed-key")
    with page.expect_navigation() as landed:
        page.get_by_role("button", name="Save").click()
    answer = landed.value
    assert answer is not None and answer.request.method == "GET" and answer.status == 200
    posted = answer.request.redirected_from
    assert posted is not None and posted.method == "POST" and posted.response().status == 303  # type: ignore[union-attr]
    assert "typed-key" not in page.url and "/development/webhooks/new?flash=" in page.url
    for _ in range(2):  # as posted, then after a reload
        expect(page.locator("#url-error")).to_have_text("The URL must start with http:// or https://.")
        expect(page.locator("#topics-error")).to_have_text("Choose at least one topic.")
        expect(page.get_by_label("URL", exact=True)).to_have_attribute("aria-describedby", "url-error")
        expect(page.get_by_label("Name", exact=True)).to_have_value("ERP")
        expect(page.get_by_label("URL", exact=True)).to_have_value("erp.example.com/hooks")
        expect(page.get_by_label("Header value").first).to_have_value("typed-key")
        reloaded(page)
    assert dialogs == []
    shoot(page, "webhook-form-errors")
    with rt.db.read() as conn:
        assert store.list_webhooks(conn, rt.cipher, 1) == []


@SQLITE_ONLY
def test_reveal_shows_the_secret_once_and_a_reload_is_a_get_that_hides_it_again(
    page: Page, ui: tuple[str, Runtime]
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, "http://127.0.0.1:9/x", name="ERP")
    sign_in(page, base, tenant)
    dialogs = no_dialogs(page)
    page.goto(f"{base}/development/webhooks/{hook.id}")
    expect(page.locator(".summary")).to_contain_text(f"********{hook.secret[-4:]}")
    with page.expect_navigation() as landed:
        page.get_by_role("button", name="Reveal signing secret").click()
    answer = landed.value
    assert answer is not None and answer.request.method == "GET"
    posted = answer.request.redirected_from
    assert posted is not None and posted.method == "POST" and posted.response().status == 303  # type: ignore[union-attr]
    expect(page.locator("#signing-secret")).to_have_text(hook.secret)
    assert hook.secret not in page.url
    shoot(page, "delivery-log-secret")
    reloaded(page)
    expect(page.locator("#secret-hidden")).to_contain_text("The signing secret was shown once and is hidden again.")
    expect(page.locator("#signing-secret")).to_have_count(0)
    assert hook.secret not in page.content()
    page.get_by_role("button", name="Reveal signing secret").click()  # again, deliberately
    expect(page.locator("#signing-secret")).to_have_text(hook.secret)
    assert dialogs == []


@SQLITE_ONLY
def test_a_notice_stays_while_live_refresh_shows_the_same_state_and_goes_once_it_shows_newer(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, receiver.url("/ok/notice"), name="ERP")
    sign_in(page, base, tenant)
    page.goto(f"{base}/development/webhooks/{hook.id}/edit")
    page.get_by_label("Name", exact=True).fill("ERP 2")
    page.get_by_role("button", name="Save").click()
    notice = page.get_by_role("status").filter(has_text="Saved.")
    expect(notice).to_be_visible()
    assert "notice=saved" in page.url
    live_refreshes(page, "/deliveries", 4)  # 8 s of the same state: past the time a notice is kept to read
    expect(notice).to_be_visible()
    with rt.db.transaction() as conn:
        publish(conn, tenant_id=tenant.tenant_id, topic="document-received", payload={}, now_ms=rt.clock.now_ms())
    expect(page.locator('#delivery-log .delivery[data-status="succeeded"]')).to_have_count(1)  # shown live
    expect(notice).to_have_count(0)
    assert "notice=" not in page.url
    reloaded(page)  # and a reload does not bring it back
    expect(page.get_by_role("heading", name="ERP 2")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)


@SQLITE_ONLY
def test_select_all_takes_every_topic_of_its_stage(page: Page, ui: tuple[str, Runtime], receiver: Receiver) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    sign_in(page, base, tenant)
    page.goto(base + "/development/webhooks/new")
    separation = page.get_by_label("Select all Separation topics")
    separation.check()
    stage = page.locator('input[name="topics"][data-stage="separation"]')
    expect(stage).to_have_count(6)
    for box in stage.all():
        expect(box).to_be_checked()
    expect(page.locator('input[name="topics"]:checked')).to_have_count(6)
    page.get_by_label("READY FOR SEPARATION QC", exact=True).uncheck()
    expect(separation).not_to_be_checked()
    assert separation.evaluate("box => box.indeterminate") is True
    page.get_by_label("Name", exact=True).fill("Separation")
    page.get_by_label("URL", exact=True).fill(receiver.url("/ok/separation"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook added")
    with rt.db.read() as conn:
        (hook,) = store.list_webhooks(conn, rt.cipher, tenant.tenant_id)
    assert hook.topics == (
        "automatic-separation-done",
        "ready-for-separation-first-level",
        "ready-for-separation-second-level",
        "ready-for-separation-third-level",
        "separation-done",
    )
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Select all Separation topics")).not_to_be_checked()
    expect(page.get_by_label("Select all Inbound topics")).not_to_be_checked()


@SQLITE_ONLY
def test_the_list_shows_a_failing_webhook_and_the_form_groups_the_operational_topics_apart(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    failing = make_webhook(rt.db, rt.cipher, tenant.tenant_id, receiver.url("/status/500/list"), name="Broken ERP")
    with rt.db.transaction() as conn:
        publish(conn, tenant_id=tenant.tenant_id, topic="document-received", payload={}, now_ms=rt.clock.now_ms())
    sign_in(page, base, tenant)
    row = page.get_by_role("row", name=re.compile("Broken ERP"))
    for _ in range(50):  # the list does not refresh itself: look again until the first failure is recorded
        if "failing" in row.locator(".health-state").inner_text():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(row.locator(".health-state")).to_contain_text("failing")
    expect(row.locator(".health-state")).to_contain_text("the last: HTTP 500")
    shoot(page, "webhooks-failing")
    page.goto(base + "/development/webhooks/new")
    group = page.locator("#operational-topics")
    expect(group.locator('input[name="topics"]')).to_have_count(4)
    expect(page.locator('#topics input[name="topics"]')).to_have_count(22)
    group.get_by_label("WEBHOOK FAILING", exact=True).check()
    page.get_by_label("Name", exact=True).fill("Ops")
    page.get_by_label("URL", exact=True).fill(receiver.url("/ok/ops"))
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Webhook added")
    with rt.db.read() as conn:
        ops = [h for h in store.list_webhooks(conn, rt.cipher, tenant.tenant_id) if h.name == "Ops"]
    assert [h.topics for h in ops] == [("webhook-failing",)] and failing.id not in [h.id for h in ops]


@SQLITE_ONLY
def test_delete_asks_first(page: Page, ui: tuple[str, Runtime]) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    make_webhook(rt.db, rt.cipher, tenant.tenant_id, "http://127.0.0.1:9/gone", name="Old ERP")
    sign_in(page, base, tenant)
    page.get_by_role("row", name=re.compile("Old ERP")).get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading")).to_have_text("Delete the webhook “Old ERP”?")
    shoot(page, "webhook-delete")
    page.get_by_role("link", name="Keep it").click()
    expect(page.get_by_role("heading", name="Old ERP")).to_be_visible()
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_role("status")).to_have_text("Webhook deleted.")
    expect(page.get_by_role("heading", name="No webhooks yet")).to_be_visible()
    with rt.db.read() as conn:
        assert store.list_webhooks(conn, rt.cipher, tenant.tenant_id) == []


@SQLITE_ONLY
def test_send_test_with_a_chosen_topic_and_filter_the_log(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, receiver.url("/fail/9/tests"))  # 1 try + 8 retries fail
    sign_in(page, base, tenant)
    page.goto(f"{base}/development/webhooks/{hook.id}")
    tests = page.locator("form", has=page.get_by_role("heading", name="Send a test"))
    tests.get_by_role("button", name="Send test").click()
    expect(page.locator("#test-topic-error")).to_have_text("Choose a topic to send.")
    tests.get_by_label("Topic").select_option(label="DOCUMENT RECEIVED")
    tests.get_by_role("button", name="Send test").click()
    expect(page.get_by_role("status")).to_contain_text("Test delivery queued")
    log = page.locator("#delivery-log")
    expect(log.locator('.delivery[data-status="failed"]')).to_have_count(1)
    expect(log).to_contain_text("9 attempts")
    expect(log).to_contain_text("no retries left")
    tests.get_by_label("Topic").select_option(label="EXTRACTION DONE")
    tests.get_by_role("button", name="Send test").click()
    expect(log.locator('.delivery[data-status="succeeded"]')).to_have_count(1)
    last = receiver.wait_for("/fail/9/tests", 10)[-1]
    assert b'"topic":"extraction-done"' in last.body

    filters = page.locator("form", has=page.get_by_role("heading", name="Filter the log"))
    filters.get_by_label("Status").select_option("failed")
    filters.get_by_role("button", name="Filter").click()
    expect(log.locator(".delivery")).to_have_count(1)
    expect(log.locator(".delivery")).to_contain_text("DOCUMENT RECEIVED")
    shoot(page, "delivery-log-filtered")
    page.get_by_role("link", name="Show all").click()
    expect(log.locator(".delivery")).to_have_count(2)
    filters.get_by_label("Topic").select_option(label="EXTRACTION DONE")
    filters.get_by_role("button", name="Filter").click()
    expect(log.locator(".delivery")).to_have_count(1)
    expect(log.locator(".delivery")).to_contain_text("succeeded")
    live_refreshes(page, "/deliveries")  # the live refresh keeps the filter
    expect(log.locator(".delivery")).to_have_count(1)


@SQLITE_ONLY
def test_live_refresh_says_when_it_stops_because_the_session_ended(page: Page, ui: tuple[str, Runtime]) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    make_webhook(rt.db, rt.cipher, tenant.tenant_id, "http://127.0.0.1:9/x", name="ERP")
    sign_in(page, base, tenant)
    page.get_by_role("link", name="Delivery log").click()
    expect(page.get_by_role("heading", name="ERP")).to_be_visible()
    with rt.db.transaction() as conn:
        conn.run("DELETE FROM ui_sessions")  # as if it expired
    expect(page.get_by_text("Live updates stopped: your session has ended.")).to_be_visible()


def _failed_an_hour_ago(rt: Runtime, tenant: NewTenant, hook: int, count: int, at: int | None = None) -> None:
    with rt.db.transaction() as conn:
        settled_deliveries(
            conn,
            tenant=tenant.tenant_id,
            webhook=hook,
            count=count,
            status="failed",
            at=rt.clock.now_ms() - 3_600_000 if at is None else at,
        )


@SQLITE_ONLY
def test_recover_makes_the_failed_deliveries_due_again_and_shows_its_progress(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, receiver.url("/ok/recovered"))
    _failed_an_hour_ago(rt, tenant, hook.id, 30)
    sign_in(page, base, tenant)
    page.goto(f"{base}/development/webhooks/{hook.id}")
    card = page.locator("#recover")
    two_hours_ago = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 7200))
    card.get_by_label("Since (UTC)").fill(two_hours_ago)
    card.get_by_label("Deliveries").select_option("failed")
    card.get_by_role("button", name="Recover", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Recovery started")
    expect(card.locator("#recovery-state")).to_have_attribute("data-status", "done")  # refreshed live
    expect(card.locator("#recovery-count")).to_have_text("30 of 30")
    assert len(receiver.wait_for("/ok/recovered", 30)) == 30
    shoot(page, "delivery-log-recovered")


@SQLITE_ONLY
def test_enabling_a_disabled_webhook_offers_to_recover_what_failed_while_it_was_off(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver
) -> None:
    base, rt = ui
    tenant = make_tenant(rt.db)
    hook = make_webhook(rt.db, rt.cipher, tenant.tenant_id, receiver.url("/ok/back"))
    with rt.db.transaction() as conn:
        off = store.update_webhook(conn, rt.cipher, tenant.tenant_id, hook.id, {"enabled": False}, rt.clock.now_ms())
    _failed_an_hour_ago(rt, tenant, hook.id, 2, at=off.updated_at - 1000)  # before it went off: not offered
    _failed_an_hour_ago(rt, tenant, hook.id, 5, at=off.updated_at + 1)
    sign_in(page, base, tenant)
    page.goto(f"{base}/development/webhooks/{hook.id}/edit")
    page.get_by_label("Enabled").check()
    page.get_by_role("button", name="Save").click()
    offer = page.locator("#recover-offer")
    expect(offer).to_contain_text("Recover 5 failed deliveries since")
    shoot(page, "delivery-log-recover-offer")
    offer.get_by_role("button", name="Recover 5").click()
    expect(page.get_by_role("status")).to_contain_text("Recovery started")
    expect(page.locator("#recovery-state")).to_have_attribute("data-status", "done")
    expect(page.locator("#recovery-count")).to_have_text("5 of 5")
    assert len(receiver.wait_for("/ok/back", 5)) == 5


def test_each_topic_of_a_documents_timeline_links_to_its_deliveries_and_their_status(
    page: Page, ui: tuple[str, Runtime], receiver: Receiver
) -> None:
    from tests.factories.clients import Api, document_doc

    base, rt = ui
    tenant = make_tenant(rt.db)
    make_webhook(rt.db, rt.cipher, tenant.tenant_id, receiver.url("/ok/erp"), name="ERP")
    archive = make_webhook(
        rt.db,
        rt.cipher,
        tenant.tenant_id,
        receiver.url("/status/500/archive"),
        name="Archive",
        topics=("document-received", "extraction-done"),
    )
    status, uploaded = Api(base, tenant.token).call("POST", "/v1/documents", document_doc(make_pdf("timeline")))
    assert status == 201, uploaded
    receiver.wait_for("/status/500/archive", 2)
    sign_in(page, base, tenant)
    page.goto(f"{base}/documents/{uploaded['data']['id']}")
    timeline = page.locator(".timeline")
    received = timeline.locator("> li", has=page.locator("code", has_text=re.compile("^document-received$")))
    expect(received.locator(".sent a")).to_have_text(["ERP", "Archive"])
    expect(received.locator(".sent li").first.locator(".badge")).to_have_text("succeeded")
    expect(received.locator(".sent li").last.locator(".badge")).to_have_text(re.compile("pending|failed"))
    expect(timeline.locator("> li", has_text="no webhook subscribed").first).to_be_visible()
    shoot(page, "document-timeline-deliveries")
    received.get_by_role("link", name="Archive").click()
    expect(page).to_have_url(re.compile(rf"/development/webhooks/{archive.id}\?event=\d+#delivery-\d+$"))
    log = page.locator("#delivery-log")
    # the Archive webhook has two deliveries of this document; the link shows the one of its topic
    expect(log.locator(".delivery")).to_have_count(1)
    expect(log.locator(".delivery")).to_contain_text("DOCUMENT RECEIVED")
    expect(log.locator(".delivery .request-id")).to_have_text(re.compile("^[0-9a-f]{32}$"))
    live_refreshes(page, "/deliveries")  # the live refresh keeps the event's filter
    expect(log.locator(".delivery")).to_have_count(1)
    page.get_by_role("link", name="Show all").click()
    expect(log.locator(".delivery")).to_have_count(2)
