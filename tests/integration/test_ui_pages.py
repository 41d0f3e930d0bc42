"""The web UI's rules over real HTTP, without a browser, on SQLite and PostgreSQL: sessions
and their cookie, CSRF on every form, tenant isolation, and errors shown by their field."""

from __future__ import annotations

import dataclasses
import hashlib
import http.client
import logging
import re
import urllib.parse

import pytest

from dochooks.delivery.publish import publish
from dochooks.documents import store as documents
from dochooks.runtime import Runtime
from dochooks.tenants import NewTenant
from dochooks.ui import flash
from dochooks.ui.sessions import SESSION_COOKIE
from dochooks.webhooks import store
from tests.factories.clients import Api, Page, WebClient, live_service, multipart
from tests.factories.deliveries import PAYLOAD, FakeTime
from tests.factories.documents import make_pdf
from tests.factories.peers import Receiver
from tests.factories.stores import make_tenant, make_webhook

# Every form the UI posts to, with fields that would succeed given a valid CSRF token.
HOOK = {"name": "x", "url": "http://127.0.0.1:9/x", "topics": "document-received"}
FORMS = [
    ("/development/webhooks", HOOK),
    (
        "/development/webhooks/{hook}/edit",
        {"name": "changed", "url": "http://127.0.0.1:9/x", "topics": "document-received"},
    ),
    ("/development/webhooks/{hook}/delete", {}),
    ("/development/webhooks/{hook}/test", {"topic": "document-received"}),
    ("/development/webhooks/{hook}/secret", {}),
    ("/development/deliveries/{delivery}/resend", {}),
    ("/development/workflow", {"classification": "first-level"}),
    ("/documents/{document}/validation", {}),
    ("/sign-out", {}),
]


@pytest.fixture
def web(service: str, acme: NewTenant) -> WebClient:
    client = WebClient(service)
    client.sign_in(acme.token)
    return client


def _ids(runtime: Runtime, tenant: int) -> dict[str, int]:
    """A webhook, a delivery of it and a document waiting for validation, all of `tenant`."""
    hook = make_webhook(runtime.db, runtime.cipher, tenant, "http://127.0.0.1:9/never")
    now = runtime.clock.now_ms()
    with runtime.db.transaction() as conn:
        published = publish(conn, tenant_id=tenant, topic="document-received", payload=PAYLOAD, now_ms=now)
        delivery = conn.one("SELECT id FROM deliveries WHERE event_id = :e", {"e": published.event_id})
        doc = documents.create_document(
            conn,
            tenant_id=tenant,
            name="a.txt",
            external_id=None,
            custom_fields={},
            files=[],
            sla_deadline=None,
            now_ms=now,
        )
        conn.run(
            "UPDATE documents SET workflow_step = 'classification', state = 'validation:first-level', "
            "run_at = NULL WHERE id = :id",
            {"id": doc.id},
        )
    assert delivery is not None
    return {"hook": hook.id, "delivery": delivery["id"], "document": doc.id}


def test_the_session_cookie_is_http_only_same_site_and_an_opaque_id(
    service: str, acme: NewTenant, runtime: Runtime
) -> None:
    client = WebClient(service)
    signed_in = client.sign_in(acme.token)
    (cookie,) = [c for c in signed_in.headers.get_all("Set-Cookie") if c.startswith(SESSION_COOKIE + "=")]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes and "path=/" in attributes
    assert "secure" not in attributes  # plain http on loopback; https pages get Secure
    session_id = cookie.split(";")[0].split("=", 1)[1]
    assert acme.token not in cookie and len(session_id) >= 40
    with runtime.db.read() as conn:
        stored = [r["session_hash"] for r in conn.all("SELECT session_hash FROM ui_sessions")]
    assert stored == [hashlib.sha256(session_id.encode()).hexdigest()]  # only a digest at rest
    assert client.get("/development/webhooks").status == 200


def test_sign_in_refuses_a_wrong_token_and_a_missing_csrf_token(service: str, acme: NewTenant) -> None:
    client = WebClient(service)
    form = client.get("/sign-in")
    wrong = client.post("/sign-in", {"csrf_token": form.csrf(), "token": "dh_not-a-token"})
    assert wrong.location == "/sign-in?next=%2Fdevelopment%2Fwebhooks&error=invalid-token"
    assert "dh_not-a-token" not in wrong.location
    for _ in range(2):  # a reload says it again, and sends nothing
        assert '<p class="error" id="token-error">This API token is not valid.</p>' in client.follow(wrong).text
    assert client.post("/sign-in", {"token": acme.token}).status == 403
    assert client.post("/sign-in", {"csrf_token": "forged", "token": acme.token}).status == 403
    assert WebClient(service).post("/sign-in", {"csrf_token": form.csrf(), "token": acme.token}).status == 403
    assert client.get("/development/webhooks").location == "/sign-in?next=%2Fdevelopment%2Fwebhooks"


@pytest.mark.parametrize(
    ("given", "followed"),
    [
        ("/documents", "/documents"),
        ("//evil.example/x", "/development/webhooks"),
        ("/\\evil.example", "/development/webhooks"),
        ("https://evil.example", "/development/webhooks"),
    ],
)
def test_sign_in_goes_on_only_to_a_page_of_this_site(service: str, acme: NewTenant, given: str, followed: str) -> None:
    client = WebClient(service)
    form = client.get("/sign-in?next=" + urllib.parse.quote(given, safe=""))
    signed_in = client.post("/sign-in", {"csrf_token": form.csrf(), "token": acme.token, "next": given})
    assert signed_in.status == 303 and signed_in.location == followed


def test_pages_need_a_session_and_sign_out_ends_it(service: str, acme: NewTenant, runtime: Runtime) -> None:
    anonymous = WebClient(service)
    for path in ("/development/webhooks", "/development/workflow", "/documents", "/documents/1"):
        assert anonymous.get(path).status == 303, path
    assert anonymous.get("/development/webhooks/1/deliveries", {"X-Requested-With": "fetch"}).status == 401
    assert anonymous.post("/development/webhooks", {"name": "x"}).location == "/sign-in"

    web = WebClient(service)
    web.sign_in(acme.token)
    stolen = WebClient(service, jar=web.jar)  # the same cookie, kept elsewhere
    signed_out = web.post("/sign-out", {"csrf_token": web.csrf()})
    assert signed_out.status == 303 and signed_out.location == "/sign-in"
    assert stolen.get("/development/webhooks").status == 303
    with runtime.db.read() as conn:
        assert conn.all("SELECT id FROM ui_sessions") == []


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    web: WebClient, runtime: Runtime, acme: NewTenant, token: str | None
) -> None:
    ids = _ids(runtime, acme.tenant_id)
    for path, fields in FORMS:
        given = dict(fields) if token is None else {**fields, "csrf_token": token}
        page = web.post(path.format(**ids), given)
        assert page.status == 403, path
        assert "security token is missing or wrong" in page.text
    with runtime.db.read() as conn:
        hook = store.get_webhook(conn, runtime.cipher, acme.tenant_id, ids["hook"])
        assert len(store.list_webhooks(conn, runtime.cipher, acme.tenant_id)) == 1
        assert conn.one("SELECT COUNT(*) AS n FROM deliveries")["n"] == 2  # type: ignore[index]
        assert conn.one("SELECT COUNT(*) AS n FROM ui_sessions")["n"] == 1  # type: ignore[index]
        assert documents.get_document(conn, acme.tenant_id, ids["document"]).state == "validation:first-level"
    assert hook.name == "hook"
    assert web.get("/development/webhooks").status == 200  # still signed in


# Each form of the UI, with fields it takes and fields it refuses: either way the post answers 303.
POSTS = [
    ("/development/webhooks", HOOK),
    ("/development/webhooks", {"name": "x", "url": "ftp://x"}),
    ("/development/webhooks/{hook}/edit", {**HOOK, "name": "changed"}),
    ("/development/webhooks/{hook}/edit", {**HOOK, "topics": []}),
    ("/development/webhooks/{hook}/test", {"topic": "document-received"}),
    ("/development/webhooks/{hook}/test", {"topic": ""}),
    ("/development/webhooks/{hook}/secret", {}),
    ("/development/webhooks/{hook}/secret/rotate", {}),
    ("/development/webhooks/{hook}/recover", {"since": "2020-01-01T00:00", "status": "failed"}),
    ("/development/webhooks/{hook}/recover", {"since": "never"}),
    ("/development/deliveries/{delivery}/resend", {}),
    ("/development/workflow", {"classification": "first-level"}),
    ("/development/workflow", {"processing_target_seconds": "soon"}),
    ("/documents", {"external_id": "no file"}),
    ("/documents/{document}/validation", {"field_name": "", "field_value": "nameless"}),
    ("/documents/{document}/validation", {}),
    ("/development/webhooks/{hook}/delete", {}),
    ("/sign-out", {}),
]


def test_every_post_answers_303_and_the_page_it_leads_to_reloads_without_posting_again(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    ids = _ids(runtime, acme.tenant_id)
    csrf = web.csrf()
    upload = ("csrf_token", None, csrf.encode()), ("file", "a.pdf", make_pdf("Invoice 1"))
    for path, fields in [("/documents", {"file": "a.pdf"}), *POSTS]:
        if "file" in fields:
            answer = web.post_multipart(path, *upload)
        else:
            answer = web.post(path.format(**ids), {**fields, "csrf_token": csrf})
        assert answer.status == 303 and answer.location, (path, fields, answer.status, answer.text[:300])
        for _ in range(2):  # the page, and a reload of it
            page = web.get(answer.location)
            assert page.status == 200 and "<h1>" in page.text, (path, fields, answer.location)
    with runtime.db.read() as conn:
        posted = conn.one("SELECT COUNT(*) AS n FROM documents")["n"]  # type: ignore[index]
    assert posted == 2  # the one made for the test and the upload: the reloads sent nothing


def test_a_form_error_shows_only_to_the_session_that_posted_it_and_only_on_its_page(
    service: str, web: WebClient, acme: NewTenant
) -> None:
    refused = web.post("/development/webhooks", {"csrf_token": web.csrf(), "name": "Mine", "url": "ftp://x"})
    assert refused.location
    nonce = refused.location.split("flash=", 1)[1]
    assert 'id="url-error"' in web.follow(refused).text
    another_session = WebClient(service)
    another_session.sign_in(acme.token)
    elsewhere = another_session.get(refused.location)
    assert elsewhere.status == 200 and 'id="url-error"' not in elsewhere.text and 'value="Mine"' not in elsewhere.text
    assert "error-summary" not in web.get(f"/development/workflow?flash={nonce}").text
    assert 'value="Mine"' not in web.get("/development/webhooks/new").text  # a fresh form is empty


def test_the_test_send_error_shows_on_the_log_page_and_again_on_reload(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x")
    refused = web.post(f"/development/webhooks/{hook.id}/test", {"csrf_token": web.csrf(), "topic": "no-such-topic"})
    assert refused.location and refused.location.startswith(f"/development/webhooks/{hook.id}?flash=")
    for _ in range(2):
        page = web.get(refused.location)
        assert '<p class="error" id="test-topic-error">Choose a topic to send.</p>' in page.text
        assert 'aria-describedby="test-topic-error"' in page.text
    with runtime.db.read() as conn:
        assert conn.one("SELECT COUNT(*) AS n FROM deliveries")["n"] == 0  # type: ignore[index]


def test_a_validation_refused_shows_its_error_on_the_documents_page(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    ids = _ids(runtime, acme.tenant_id)
    path = "/documents/{document}/validation".format(**ids)
    refused = web.post(path, {"csrf_token": web.csrf(), "field_name": "", "field_value": "nameless"})
    page = web.follow(refused)
    assert '<p class="error-summary" role="alert">Give every field a name.</p>' in page.text
    done = web.follow(web.post(path, {"csrf_token": web.csrf()}))
    assert "Validation completed" in done.text
    again = web.follow(web.post(path, {"csrf_token": web.csrf()}))  # it waits no more: a conflict, said on the page
    assert f'role="alert">document {ids["document"]} has no pending validation' in again.text


def test_another_tenants_webhooks_deliveries_and_documents_are_not_found(web: WebClient, runtime: Runtime) -> None:
    other = make_tenant(runtime.db, "other")
    ids = _ids(runtime, other.tenant_id)
    csrf = web.csrf()
    for path in (
        "/development/webhooks/{hook}",
        "/development/webhooks/{hook}/edit",
        "/development/webhooks/{hook}/delete",
        "/development/webhooks/{hook}/deliveries",
        "/documents/{document}",
        "/documents/{document}/live",
    ):
        page = web.get(path.format(**ids))
        assert page.status == 404, path
        assert "Not found" in page.text and "<html" in page.text
    for path, fields in FORMS[1:6]:  # those naming a webhook or a delivery
        assert web.post(path.format(**ids), {**fields, "csrf_token": csrf}).status == 404, path
    assert web.post("/documents/{document}/validation".format(**ids), {"csrf_token": csrf}).status == 404
    with runtime.db.read() as conn:
        assert store.get_webhook(conn, runtime.cipher, other.tenant_id, ids["hook"]).name == "hook"
        assert documents.get_document(conn, other.tenant_id, ids["document"]).state == "validation:first-level"
    listing = web.get("/development/webhooks")
    assert "/development/webhooks/{hook}".format(**ids) not in listing.text


def test_form_errors_stand_next_to_their_fields_with_the_input_kept_on_a_page_that_reloads(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    refused = web.post(
        "/development/webhooks",
        {
            "csrf_token": web.csrf(),
            "name": "My ERP",
            "url": "ftp://erp.example",
            "header_name": "X-Api-Key",
            "header_value": "typed-value",
        },
    )
    assert refused.status == 303 and refused.location
    assert refused.location.startswith("/development/webhooks/new?flash=") and "typed-value" not in refused.location
    page = web.follow(refused)
    assert page.status == 200 and web.get(refused.location).text == page.text  # a reload: the same page
    assert '<p class="error" id="url-error">The URL must start with http:// or https://.</p>' in page.text
    assert '<p class="error" id="topics-error">Choose at least one topic.</p>' in page.text
    assert 'value="My ERP"' in page.text and 'value="ftp://erp.example"' in page.text
    assert 'value="X-Api-Key"' in page.text and 'value="typed-value"' in page.text
    assert 'aria-describedby="url-error"' in page.text
    with runtime.db.read() as conn:
        assert store.list_webhooks(conn, runtime.cipher, acme.tenant_id) == []  # nothing saved


def test_a_masked_header_sent_back_unchanged_keeps_its_stored_value(
    web: WebClient, runtime: Runtime, acme: NewTenant, receiver: Receiver
) -> None:
    secret = "Bearer receiver-token-0123456789"
    hook = make_webhook(
        runtime.db, runtime.cipher, acme.tenant_id, receiver.url("/ok/x"), headers={"Authorization": secret}
    )
    form = web.get(f"/development/webhooks/{hook.id}/edit")
    assert secret not in form.text and 'value="********6789"' in form.text
    saved = web.post(
        f"/development/webhooks/{hook.id}/edit",
        {
            "csrf_token": form.csrf(),
            "name": "renamed",
            "url": hook.url,
            "topics": ["document-received"],
            "header_name": ["Authorization", "X-Extra"],
            "header_value": ["********6789", "added"],
            "enabled": "on",
        },
    )
    assert saved.status == 303
    with runtime.db.read() as conn:
        changed = store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id)
    assert changed.name == "renamed" and changed.headers == {"Authorization": secret, "X-Extra": "added"}


def test_pages_carry_a_content_security_policy_and_the_api_stays_json(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x", name="<script>alert(1)</script>")
    page = web.get("/development/webhooks")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert web.get("/no-such-page").status == 404
    api = web.get("/v1/webhooks")
    assert api.status == 401 and api.headers["Content-Type"].startswith("application/vnd.api+json")


def test_saving_a_webhook_dochooks_disabled_keeps_the_reason_until_it_is_enabled(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/gone")
    with runtime.db.transaction() as conn:
        store.disable_for(conn, {hook.id: "the endpoint answered 410 Gone"}, runtime.clock.now_ms())
    assert "the endpoint answered 410 Gone" in web.get("/development/webhooks").text
    fields = {"csrf_token": web.csrf(), "name": "renamed", "url": hook.url, "topics": "document-received"}
    assert web.post(f"/development/webhooks/{hook.id}/edit", fields).status == 303
    with runtime.db.read() as conn:
        kept = store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id)
    assert (kept.name, kept.enabled, kept.disabled_reason) == ("renamed", False, "the endpoint answered 410 Gone")
    assert web.post(f"/development/webhooks/{hook.id}/edit", {**fields, "enabled": "on"}).status == 303
    with runtime.db.read() as conn:
        enabled = store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id)
    assert (enabled.enabled, enabled.disabled_reason) == (True, None)


def test_the_webhook_form_turns_ordered_delivery_on_and_off(web: WebClient, runtime: Runtime, acme: NewTenant) -> None:
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/ordered")
    assert 'name="ordered">' in web.get(f"/development/webhooks/{hook.id}/edit").text  # unchecked
    fields = {"csrf_token": web.csrf(), "name": "hook", "url": hook.url, "topics": "document-received", "enabled": "on"}
    assert web.post(f"/development/webhooks/{hook.id}/edit", {**fields, "ordered": "on"}).status == 303
    with runtime.db.read() as conn:
        assert store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id).ordered is True
    assert 'name="ordered" checked>' in web.get(f"/development/webhooks/{hook.id}/edit").text
    assert "ordered: a document" in web.get(f"/development/webhooks/{hook.id}").text
    assert web.post(f"/development/webhooks/{hook.id}/edit", fields).status == 303  # an unchecked box: off
    with runtime.db.read() as conn:
        assert store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id).ordered is False
    # A refused form comes back as it was typed, the box too, so that fixing it keeps the choice.
    refused = web.follow(web.post(f"/development/webhooks/{hook.id}/edit", {**fields, "url": "nope", "ordered": "on"}))
    assert 'name="ordered" checked>' in refused.text and "nope" in refused.text
    refused = web.follow(web.post("/development/webhooks", {**fields, "url": "nope", "ordered": "on"}))
    assert 'name="ordered" checked>' in refused.text
    # Typed values too long to keep: the edit form shows the webhook as stored, with the errors.
    too_long = {**fields, "name": "n" * (flash.MAX_BODY + 1), "url": "nope"}
    refused = web.follow(web.post(f"/development/webhooks/{hook.id}/edit", too_long))
    assert 'value="hook"' in refused.text and hook.url in refused.text and 'id="url-error"' in refused.text


def test_a_workflow_target_that_is_not_a_number_is_refused_by_its_field(web: WebClient, runtime: Runtime) -> None:
    page = web.follow(
        web.post(
            "/development/workflow",
            {"csrf_token": web.csrf(), "classification": "first-level", "processing_target_seconds": "soon"},
        )
    )
    assert 'id="processing_target_seconds-error">Enter a whole number of seconds' in page.text
    assert 'value="soon"' in page.text
    saved = web.post(
        "/development/workflow",
        {"csrf_token": web.csrf(), "classification": ["first-level", "qc"], "processing_target_seconds": "60"},
    )
    assert saved.status == 303
    shown = web.get("/development/workflow").text
    assert 'name="classification" value="qc" checked' in shown and 'value="60"' in shown


def test_a_workflow_document_retention_is_saved_shown_and_bounded(web: WebClient) -> None:
    too_long = {"csrf_token": web.csrf(), "document_retention_days": "3651"}
    refused = web.follow(web.post("/development/workflow", too_long))
    assert 'id="document_retention_days-error">Enter a whole number of days from 0 to 3650' in refused.text
    assert 'value="3651"' in refused.text
    saved = web.post("/development/workflow", {"csrf_token": web.csrf(), "document_retention_days": "45"})
    assert saved.status == 303
    assert 'name="document_retention_days" inputmode="numeric" value="45"' in web.get("/development/workflow").text
    emptied = web.post("/development/workflow", {"csrf_token": web.csrf(), "document_retention_days": ""})
    assert emptied.status == 303
    assert 'name="document_retention_days" inputmode="numeric" value=""' in web.get("/development/workflow").text


def test_an_upload_without_a_file_says_so_by_the_file_input_and_keeps_the_rest(web: WebClient) -> None:
    refused = web.post(
        "/documents",
        {"csrf_token": web.csrf(), "external_id": "EX-1", "field_name": ["customer", ""], "field_value": ["ACME", "x"]},
    )
    assert refused.location and refused.location.startswith("/documents?flash=")
    page = web.follow(refused)
    assert '<p class="error" id="file-error">Choose a file to upload.</p>' in page.text
    assert '<p class="error" id="custom_fields-error">Give every custom field a name.</p>' in page.text
    assert 'value="EX-1"' in page.text and 'value="customer"' in page.text and 'value="ACME"' in page.text
    assert "No documents yet" in page.text


def test_the_signing_secret_shows_in_full_once_after_reveal_and_never_in_an_address_or_a_log(
    service: str, web: WebClient, runtime: Runtime, acme: NewTenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x")
    shown = web.get(f"/development/webhooks/{hook.id}")
    assert hook.secret not in shown.text and f"********{hook.secret[-4:]}" in shown.text
    assert web.get(f"/development/webhooks/{hook.id}/secret").status == 405  # a reveal is a post, CSRF-checked
    revealed = web.post(f"/development/webhooks/{hook.id}/secret", {"csrf_token": shown.csrf()})
    assert revealed.status == 303 and revealed.location
    assert revealed.location.startswith(f"/development/webhooks/{hook.id}?flash=") and hook.secret not in revealed.text
    another_session = WebClient(service)
    another_session.sign_in(acme.token)
    assert hook.secret not in another_session.get(revealed.location).text  # the address alone shows nothing
    page = web.follow(revealed)
    assert f'<code class="secret" id="signing-secret">{hook.secret}</code>' in page.text
    assert "reloading the page hides it again" in page.text
    reloaded = web.get(revealed.location)
    assert reloaded.status == 200 and hook.secret not in reloaded.text
    assert 'id="secret-hidden">The signing secret was shown once and is hidden again.' in reloaded.text
    logged = [r for r in caplog.records if r.name == "dochooks.access"]
    assert {"POST /development/webhooks/{webhook_id}/secret 303", "GET /development/webhooks/{webhook_id} 200"} <= {
        r.getMessage() for r in logged
    }
    assert not [r for r in caplog.records if hook.secret in f"{r.getMessage()} {r.__dict__}"]
    with runtime.db.read() as conn:
        assert all(hook.secret not in row["body"] for row in conn.all("SELECT body FROM ui_flashes"))


def test_rotating_the_signing_secret_redirects_and_says_the_old_one_signs_for_a_day(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x")
    shown = web.get(f"/development/webhooks/{hook.id}")
    assert 'id="rotate-secret"' in shown.text and 'id="previous-secret"' not in shown.text
    rotated = web.post(f"/development/webhooks/{hook.id}/secret/rotate", {"csrf_token": shown.csrf()})
    assert rotated.status == 303 and rotated.headers["location"].endswith("?notice=secret-rotated")
    with runtime.db.read() as conn:
        after = store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id)
    assert after.secret != hook.secret and after.previous_secret == hook.secret
    page = web.get(rotated.headers["location"])
    assert "Signing secret rotated" in page.text and 'id="previous-secret"' in page.text
    assert hook.secret not in page.text and after.secret not in page.text  # both stay masked until revealed
    refused = web.post(f"/development/webhooks/{hook.id}/secret/rotate", {"csrf_token": "forged"})
    assert refused.status == 403


@pytest.mark.parametrize("digit", ["²", "٣", "-1", "99999999999999999999999"])
def test_numbers_in_the_address_or_a_form_that_are_not_ascii_digits_are_refused_not_crashed_on(
    web: WebClient, runtime: Runtime, acme: NewTenant, digit: str
) -> None:
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x")
    quoted = urllib.parse.quote(digit)
    assert web.get(f"/development/webhooks/{hook.id}?before={quoted}").status == 200
    assert web.get(f"/development/webhooks/{hook.id}/deliveries?before={quoted}").status == 200
    assert web.get(f"/documents?page={quoted}").status == 200
    page = web.follow(web.post("/development/workflow", {"csrf_token": web.csrf(), "processing_target_seconds": digit}))
    assert 'id="processing_target_seconds-error"' in page.text


def test_a_renamed_header_with_its_masked_value_is_refused_by_the_headers_field(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    secret = "Bearer receiver-token-0123456789"
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x", headers={"Auth": secret})
    refused = web.post(
        f"/development/webhooks/{hook.id}/edit",
        {
            "csrf_token": web.csrf(),
            "name": "x",
            "url": hook.url,
            "topics": "document-received",
            "header_name": "X-Token",
            "header_value": "********6789",
        },
    )
    assert refused.location and refused.location.startswith(f"/development/webhooks/{hook.id}/edit?flash=")
    page = web.follow(refused)
    assert 'id="headers-error">Header X-Token holds a masked value' in page.text
    with runtime.db.read() as conn:
        kept = store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id)
    assert kept.headers == {"Auth": secret}


def test_a_url_moved_to_another_origin_with_masked_headers_is_refused_by_the_headers_field(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    secret = "Bearer receiver-token-0123456789"
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x", headers={"Auth": secret})
    form = {
        "csrf_token": web.csrf(),
        "name": "x",
        "url": "http://127.0.0.1:10/x",
        "topics": "document-received",
        "header_name": "Auth",
        "header_value": "********6789",
    }
    page = web.follow(web.post(f"/development/webhooks/{hook.id}/edit", form))
    assert 'id="headers-error">The URL moves to another origin' in page.text
    assert 'value="http://127.0.0.1:10/x"' in page.text  # what was typed is kept
    with runtime.db.read() as conn:
        assert store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id).url == hook.url
    typed = web.post(f"/development/webhooks/{hook.id}/edit", {**form, "header_value": "Bearer typed-again-2222"})
    assert typed.status == 303
    with runtime.db.read() as conn:
        moved = store.get_webhook(conn, runtime.cipher, acme.tenant_id, hook.id)
    assert moved.url == "http://127.0.0.1:10/x" and moved.headers == {"Auth": "Bearer typed-again-2222"}


def test_a_name_with_a_nul_character_is_refused_by_its_field(web: WebClient) -> None:
    page = web.follow(
        web.post(
            "/development/webhooks",
            {"csrf_token": web.csrf(), "name": "a\x00b", "url": HOOK["url"], "topics": HOOK["topics"]},
        )
    )
    assert 'id="name-error">Name must not contain NUL characters.' in page.text


def test_a_body_over_the_limit_gets_a_page_in_the_ui_and_an_error_document_in_the_api(service: str) -> None:
    def announced_too_large(path: str, mib: int = 2) -> tuple[int, str, str]:
        """Only the headers of a post of `mib` MiB: the limit answers before any body is read."""
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(service).netloc, timeout=10)
        try:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.putheader("Content-Length", str(mib * 2**20))
            conn.endheaders()
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read().decode()
        finally:
            conn.close()

    status, kind, text = announced_too_large("/development/workflow")
    assert (status, kind.split(";")[0]) == (413, "text/html") and "The form sent more than 1 MiB." in text
    status, kind, text = announced_too_large("/documents", mib=64)
    assert (status, kind.split(";")[0]) == (413, "text/html") and "an upload may hold" in text
    status, kind, _ = announced_too_large("/v1/webhooks")
    assert (status, kind) == (413, "application/vnd.api+json")


def test_the_webhooks_list_sums_up_each_webhooks_latest_deliveries(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x")
    with runtime.db.transaction() as conn:
        for _ in range(3):
            publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=1)
        conn.run("UPDATE deliveries SET status = 'failed' WHERE id = (SELECT MIN(id) FROM deliveries)")
    listed = web.get("/development/webhooks").text
    assert "Last 100 deliveries" in listed
    assert "0 succeeded" in listed and "1 failed" in listed and "2 pending" in listed


def test_posts_of_a_session_are_rate_limited_like_the_api(runtime: Runtime, acme: NewTenant) -> None:
    limited = dataclasses.replace(
        runtime, settings=dataclasses.replace(runtime.settings, rate_limit=0.001, rate_burst=2)
    )
    with live_service(limited) as base:
        web = WebClient(base)
        web.sign_in(acme.token)  # the sign-in post counts against the caller's address, not the session
        token = web.csrf()
        statuses = [web.post("/development/workflow", {"csrf_token": token}).status for _ in range(3)]
    assert statuses[:2] == [303, 303] and statuses[2] == 429


def test_wrong_tokens_at_sign_in_and_in_the_api_share_one_budget_per_address(runtime: Runtime, acme: NewTenant) -> None:
    limited = dataclasses.replace(
        runtime, settings=dataclasses.replace(runtime.settings, auth_failure_rate=0.5, auth_failure_burst=3)
    )
    now = [0.0]
    with live_service(limited, limiter_clock=lambda: now[0]) as base:
        web = WebClient(base)
        form = web.get("/sign-in")
        for _ in range(5):  # no token at all: not a guess, not counted
            form = web.follow(web.post("/sign-in", {"csrf_token": form.csrf(), "token": " "}))
            assert 'id="token-error">Enter your API token.' in form.text
        for n in range(2):
            form = web.follow(web.post("/sign-in", {"csrf_token": form.csrf(), "token": f"dh_guess-{n}"}))
            assert 'id="token-error">This API token is not valid.' in form.text
        assert Api(base, "dh_guess-2").call("GET", "/v1/webhooks")[0] == 401  # the third, through the API
        refused = web.post("/sign-in", {"csrf_token": form.csrf(), "token": acme.token})
        assert refused.status == 429 and refused.headers["Retry-After"] == "2"
        assert "failed authentications" in refused.text
        assert Api(base, acme.token).call("GET", "/v1/webhooks")[0] == 429
        now[0] += 2
        web.sign_in(acme.token)


# --- session lifetime, https, uploads over the limit ----------------------------------------


def test_a_session_past_its_12_hours_is_refused_and_sent_to_sign_in(runtime: Runtime, acme: NewTenant) -> None:
    time = FakeTime(runtime.clock.now_ms())
    with live_service(dataclasses.replace(runtime, clock=time)) as base:
        web = WebClient(base)
        signed_in = web.sign_in(acme.token)
        (cookie,) = [c for c in signed_in.headers.get_all("Set-Cookie") if c.startswith(SESSION_COOKIE + "=")]
        assert "max-age=43200" in cookie.lower().replace(" ", "")  # the browser forgets it when the server does
        time.advance(12 * 3600 - 0.001)
        assert web.get("/development/webhooks").status == 200
        time.advance(0.001)  # 12 hours to the millisecond
        expired = web.get("/development/webhooks")
        assert expired.status == 303 and expired.location == "/sign-in?next=%2Fdevelopment%2Fwebhooks"
        assert web.post("/development/workflow", {"csrf_token": "any"}).location == "/sign-in"
        assert web.get("/development/webhooks/1/deliveries", {"X-Requested-With": "fetch"}).status == 401
        web.sign_in(acme.token)  # signing in again starts a new one, and clears the expired one away
        assert web.get("/development/webhooks").status == 200
    with runtime.db.read() as conn:
        assert conn.one("SELECT COUNT(*) AS n FROM ui_sessions")["n"] == 1  # type: ignore[index]


def _cookies(page: Page) -> dict[str, list[str]]:
    """Each Set-Cookie of a page by cookie name: `name=value`, then its attributes lowercased."""
    found = {}
    for header in page.headers.get_all("Set-Cookie") or []:
        name_value, *attributes = [part.strip() for part in header.split(";")]
        found[name_value.split("=", 1)[0]] = [name_value, *(a.lower() for a in attributes)]
    return found


def test_cookies_are_secure_when_the_page_came_over_https(service: str, acme: NewTenant) -> None:
    # Behind a TLS proxy on this host (uvicorn trusts 127.0.0.1's X-Forwarded-Proto), as README says.
    def over_https(method: str, path: str, cookie: str = "", form: dict[str, str] | None = None) -> Page:
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(service).netloc, timeout=10)
        headers = {"X-Forwarded-Proto": "https", "Cookie": cookie}
        body = urllib.parse.urlencode(form) if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return Page(response.status, response.headers, response.read().decode())
        finally:
            conn.close()

    form = over_https("GET", "/sign-in")
    nonce = _cookies(form)["dochooks_sign_in"]
    assert "secure" in nonce and "httponly" in nonce
    signed_in = over_https("POST", "/sign-in", nonce[0], {"csrf_token": form.csrf(), "token": acme.token})
    assert signed_in.status == 303
    session = _cookies(signed_in)[SESSION_COOKIE]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(session)
    page = over_https("GET", "/development/webhooks", session[0])
    assert page.status == 200
    signed_out = over_https("POST", "/sign-out", session[0], {"csrf_token": page.csrf()})
    assert signed_out.status == 303 and "secure" in _cookies(signed_out)[SESSION_COOKIE]


def test_an_upload_over_the_size_limit_through_the_form_gets_413_and_stores_nothing(
    runtime: Runtime, acme: NewTenant
) -> None:
    limit = 2**20
    with live_service(runtime.tuned(max_upload_bytes=limit)) as base:
        web = WebClient(base)
        web.sign_in(acme.token)
        csrf = ("csrf_token", None, web.csrf().encode())
        # Within what the body may hold, over what the files may: refused as the file is stored.
        over = web.follow(web.post_multipart("/documents", csrf, ("file", "over.pdf", b"x" * (limit + 1))))
        assert 'id="file-error">the files exceed the upload limit of 1 MiB' in over.text
        # Past what the body may hold, sent without a length: refused by the body limit as it arrives.
        body, kind = multipart(csrf, ("file", "huge.pdf", b"y" * (3 * limit)))
        session = next(c.value for c in web.jar if c.name == SESSION_COOKIE)
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=30)
        pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
        headers = {"Content-Type": kind, "Cookie": f"{SESSION_COOKIE}={session}"}
        conn.request("POST", "/documents", body=pieces, headers=headers, encode_chunked=True)
        huge = conn.getresponse()
        text = huge.read().decode()
        conn.close()
        assert huge.status == 413 and "The files are too large: an upload may hold 1 MiB at most." in text
        documents_dir = runtime.settings.data_dir / "documents"
        assert not documents_dir.exists() or [p for p in documents_dir.rglob("*") if p.is_file()] == []
        with runtime.db.read() as db:
            for table in ("documents", "document_files", "events"):
                assert db.one(f"SELECT COUNT(*) AS n FROM {table}")["n"] == 0, table  # type: ignore[index]
        assert "No documents yet" in web.get("/documents").text
        fits = web.post_multipart("/documents", csrf, ("file", "fits.pdf", b"z" * limit))  # the session still works
        assert fits.status == 303, fits.text


# --- live refresh: the state a fragment shows ------------------------------------------------


def _live_state(text: str) -> str:
    found = re.search(r'data-live-state="([0-9a-f]+)"', text)
    assert found, "no live state in the page"
    return found[1]


def test_a_live_fragment_names_its_state_leaving_out_the_clock(runtime: Runtime, acme: NewTenant) -> None:
    time = FakeTime(runtime.clock.now_ms())
    hook = make_webhook(runtime.db, runtime.cipher, acme.tenant_id, "http://127.0.0.1:9/x")
    with runtime.db.transaction() as conn:
        publish(conn, tenant_id=acme.tenant_id, topic="document-received", payload=PAYLOAD, now_ms=time.now_ms())
        conn.run("UPDATE deliveries SET next_attempt_at = :later", {"later": time.now_ms() + 100_000})
    with live_service(dataclasses.replace(runtime, clock=time)) as base:
        web = WebClient(base)
        web.sign_in(acme.token)
        page = web.get(f"/development/webhooks/{hook.id}?notice=saved")
        fragment = web.get(f"/development/webhooks/{hook.id}/deliveries")
        assert "(in 100 s)" in fragment.text and _live_state(page.text) == _live_state(fragment.text)
        time.advance(10)
        later = web.get(f"/development/webhooks/{hook.id}/deliveries")
        assert "(in 90 s)" in later.text and _live_state(later.text) == _live_state(fragment.text)  # the same state
        with runtime.db.transaction() as conn:
            conn.run("UPDATE deliveries SET status = 'failed', next_attempt_at = NULL")
        changed = web.get(f"/development/webhooks/{hook.id}/deliveries")
        assert _live_state(changed.text) != _live_state(fragment.text)


def test_the_documents_live_fragments_name_the_state_their_page_was_drawn_with(
    web: WebClient, runtime: Runtime, acme: NewTenant
) -> None:
    ids = _ids(runtime, acme.tenant_id)
    document = "/documents/{document}".format(**ids)
    shown = _live_state(web.get(document).text)
    assert _live_state(web.get(document + "/live").text) == shown
    listed = _live_state(web.get("/documents").text)
    assert _live_state(web.get("/documents/list").text) == listed
    web.post(document + "/validation", {"csrf_token": web.csrf()})  # the document moves on
    assert _live_state(web.get(document + "/live").text) != shown
    assert _live_state(web.get("/documents/list").text) != listed
