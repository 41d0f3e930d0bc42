"""Where deliveries go and where they come from: every connection vetted at send time,
operator-opened ranges, a fixed source address and a proxy; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from dochooks.clock import iso
from dochooks.runtime import Runtime
from dochooks.webhooks import store
from tests.factories.deliveries import dispatch_until, queue_delivery, status_of
from tests.factories.peers import Receiver, running_proxy, running_receiver


def test_a_private_address_is_refused_again_at_delivery_time(runtime: Runtime, receiver: Receiver) -> None:
    # Configured while the development switch was on; the dispatcher now runs without it.
    tenant, delivery, _ = queue_delivery(runtime, receiver.url("/ok/literal"))
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).attempts != (), allow_private_targets=False)
    (attempt,) = status_of(runtime, tenant, delivery).attempts
    assert attempt.response_status is None
    assert attempt.error is not None and attempt.error.startswith("refused: 127.0.0.1 is not a public address")
    assert receiver.at("/ok/literal") == []


def test_a_name_is_vetted_as_the_connection_resolves_it(runtime: Runtime, receiver: Receiver) -> None:
    # What DNS rebinding amounts to: a name that resolves to a private address when it is called.
    tenant, delivery, _ = queue_delivery(runtime, f"http://localhost:{receiver.port}/ok/named")
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).attempts != (), allow_private_targets=False)
    (attempt,) = status_of(runtime, tenant, delivery).attempts
    assert attempt.error is not None and "localhost resolves to" in attempt.error and "not a public" in attempt.error
    assert receiver.at("/ok/named") == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_a_refused_address_fails_the_delivery_at_once_and_disables_the_webhook_saying_why(
    runtime: Runtime, receiver: Receiver, host: str
) -> None:
    """A refusal is the policy, not the weather: retrying for 17 hours would change nothing."""
    tenant, delivery, _ = queue_delivery(runtime, f"http://{host}:{receiver.port}/ok/refused")
    dispatch_until(
        runtime, lambda: status_of(runtime, tenant, delivery).status == "failed", allow_private_targets=False
    )
    failed = status_of(runtime, tenant, delivery)
    (attempt,) = failed.attempts
    assert failed.next_attempt_at is None
    assert attempt.error is not None and attempt.error.endswith(" (not retried; webhook disabled)")
    why = attempt.error.removesuffix(" (not retried; webhook disabled)")
    assert why.startswith("refused: ") and "not a public address" in why
    with runtime.db.read() as conn:
        hook = store.get_webhook(conn, runtime.cipher, tenant, failed.webhook_id)
    assert not hook.enabled
    assert hook.disabled_reason == (
        f"deliveries are refused since {iso(attempt.started_at + attempt.duration_ms)}: {why}; change the URL "
        "(or have the operator open its range) and enable the webhook again"
    )
    assert receiver.at("/ok/refused") == []


def test_a_name_that_does_not_resolve_is_retried_on_the_schedule(runtime: Runtime) -> None:
    """DNS may answer later: unlike a refusal, this is an ordinary failed attempt."""
    tenant, delivery, _ = queue_delivery(runtime, "http://no-such-host.invalid/hooks")
    dispatch_until(runtime, lambda: status_of(runtime, tenant, delivery).attempts != (), allow_private_targets=False)
    pending = status_of(runtime, tenant, delivery)
    (attempt,) = pending.attempts
    assert pending.status == "pending" and pending.next_attempt_at is not None
    assert attempt.error is not None and "does not resolve" in attempt.error
    with runtime.db.read() as conn:
        assert store.get_webhook(conn, runtime.cipher, tenant, pending.webhook_id).enabled


def test_ranges_the_operator_opens_are_reached_and_no_others(runtime: Runtime, receiver: Receiver) -> None:
    tenant, opened, _ = queue_delivery(runtime, f"http://localhost:{receiver.port}/ok/opened")
    dispatch_until(
        runtime,
        lambda: status_of(runtime, tenant, opened).status == "succeeded",
        allow_private_targets=False,
        allowed_target_cidrs="127.0.0.0/8,::1/128",
    )
    tenant, closed, _ = queue_delivery(runtime, receiver.url("/ok/closed"))
    dispatch_until(
        runtime,
        lambda: status_of(runtime, tenant, closed).attempts != (),
        allow_private_targets=False,
        allowed_target_cidrs="10.0.0.0/8",
    )
    assert len(receiver.at("/ok/opened")) == 1 and receiver.at("/ok/closed") == []


def test_deliveries_leave_from_the_configured_source_address(runtime: Runtime) -> None:
    with running_receiver("127.0.0.2") as receiver:
        tenant, delivery, _ = queue_delivery(runtime, receiver.url("/ok/from"))
        dispatch_until(
            runtime,
            lambda: status_of(runtime, tenant, delivery).status == "succeeded",
            egress_source_address="127.0.0.3",
        )
        (got,) = receiver.at("/ok/from")
    assert got.remote == "127.0.0.3"


def test_through_the_proxy_the_vetted_address_is_named_not_the_host(runtime: Runtime, receiver: Receiver) -> None:
    with running_proxy() as proxy:
        tenant, delivery, _ = queue_delivery(runtime, f"http://localhost:{receiver.port}/ok/proxied")
        dispatch_until(
            runtime,
            lambda: status_of(runtime, tenant, delivery).status == "succeeded",
            allow_private_targets=False,
            allowed_target_cidrs="127.0.0.0/8,::1/128",
            egress_proxy=proxy.url.replace("://", "://op:s3cret@"),
        )
        assert proxy.credentials == ["Basic " + base64.b64encode(b"op:s3cret").decode()]
        refused_tenant, refused, _ = queue_delivery(runtime, f"http://localhost:{receiver.port}/ok/refused")
        dispatch_until(
            runtime,
            lambda: status_of(runtime, refused_tenant, refused).attempts != (),
            allow_private_targets=False,
            egress_proxy=proxy.url,
        )
    (got,) = receiver.at("/ok/proxied")
    assert got.headers["host"] == f"localhost:{receiver.port}"  # the receiver still sees its own name
    (asked,) = proxy.asked  # the refused delivery never reached the proxy
    assert asked.startswith(f"POST http://127.0.0.1:{receiver.port}/ok/proxied ") or asked.startswith(
        f"POST http://[::1]:{receiver.port}/ok/proxied "
    )
    assert "localhost" not in asked
    assert receiver.at("/ok/refused") == []


@contextmanager
def tls_receiver(tmp_path: Path, name: str) -> Iterator[tuple[Receiver, str]]:
    """A receiver on loopback with a certificate for `name` from a test CA; yields it and the CA's file."""
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(name).configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with running_receiver(tls=context) as receiver:
        yield receiver, str(ca_file)


def test_https_is_verified_by_name_though_the_connection_goes_to_the_vetted_address(
    runtime: Runtime, tmp_path: Path
) -> None:
    opened = {"allow_private_targets": False, "allowed_target_cidrs": "127.0.0.0/8,::1/128"}
    with tls_receiver(tmp_path, "localhost") as (receiver, ca_file), running_proxy() as proxy:
        url = f"https://localhost:{receiver.port}/ok/tls"
        for through in (None, proxy.url):
            tenant, delivery, _ = queue_delivery(runtime, url)
            dispatch_until(
                runtime,
                lambda t=tenant, d=delivery: status_of(runtime, t, d).status == "succeeded",
                delivery_ca_file=ca_file,
                egress_proxy=through,
                **opened,
            )
        assert proxy.asked == [f"CONNECT 127.0.0.1:{receiver.port} HTTP/1.1"]  # the address, never the name
        assert [r.headers["host"] for r in receiver.at("/ok/tls")] == [f"localhost:{receiver.port}"] * 2


def test_a_certificate_for_another_name_fails_the_attempt(runtime: Runtime, tmp_path: Path) -> None:
    with tls_receiver(tmp_path, "elsewhere.example") as (receiver, ca_file), running_proxy() as proxy:
        for through in (None, proxy.url):
            tenant, delivery, _ = queue_delivery(runtime, f"https://localhost:{receiver.port}/ok/wrong")
            dispatch_until(
                runtime,
                lambda t=tenant, d=delivery: status_of(runtime, t, d).attempts != (),
                delivery_ca_file=ca_file,
                egress_proxy=through,
            )
            (attempt,) = status_of(runtime, tenant, delivery).attempts
            assert attempt.response_status is None and attempt.error and "certificate" in attempt.error.lower()
        assert receiver.at("/ok/wrong") == []
