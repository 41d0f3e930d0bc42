"""`dochooks trigger TOPIC`: a test delivery through a running service, like `stripe
trigger`. It talks to the service's API only (as an integrator's script would), so the
delivery takes the real path: queue, signing, retries, delivery log."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import click

JSON_API = "application/vnd.api+json"
SETTLED = ("succeeded", "failed")


class ApiError(click.ClickException):
    """An error answer (or none: `status` None), in the API's own words; `errors` are its
    JSON:API error objects, for a caller that acts on one (the feed's 410 says where to resume)."""

    def __init__(self, message: str, status: int | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status, self.errors = status, errors or []


class Api:
    """The few calls `trigger` and `listen --pull` make, with the tenant's token; an error
    answer becomes an `ApiError` carrying the API's own detail."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", JSON_API)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            errors = _errors(exc)
            detail = "; ".join(f"{e.get('title')}: {e.get('detail')}" for e in errors) or str(exc.reason)
            raise ApiError(f"{method} {path}: {exc.code} {detail}", exc.code, errors) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"cannot reach dochooks at {self.base} ({reason}): is it running?") from None
        except ValueError:  # not JSON: not dochooks' API at that address
            raise ApiError(f"{method} {path}: {self.base} did not answer as dochooks' API (not JSON)") from None
        if not isinstance(answer, dict):
            raise ApiError(f"{method} {path}: {self.base} did not answer as dochooks' API (not a JSON:API document)")
        return answer


def _errors(exc: urllib.error.HTTPError) -> list[dict[str, Any]]:
    """The answer's JSON:API error objects; none when it is not such a document."""
    try:
        errors = json.loads(exc.read())["errors"]
    except (ValueError, KeyError, TypeError):
        return []
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def subscribed(api: Api, topic: str) -> list[dict[str, Any]]:
    """The tenant's enabled webhooks that `topic` goes to."""
    hooks: list[dict[str, Any]] = api.call("GET", "/v1/webhooks")["data"]
    return [h for h in hooks if h["attributes"]["enabled"] and topic in h["attributes"]["topics"]]


def outcome(delivery: dict[str, Any]) -> str:
    """A delivery's first outcome in one line: what its last attempt got, and what follows."""
    attrs = delivery["attributes"]
    if not attrs["attempts"]:
        return str(attrs["status"])  # failed unsent (e.g. the webhook was disabled meanwhile)
    last = attrs["attempts"][-1]
    answer = f"HTTP {last['response_status']}" if last["response_status"] is not None else last["error"]
    then = f"; retried at {attrs['next_attempt_at']}" if attrs["status"] == "pending" else ""
    return f"{attrs['status'] if not then else 'failed'}: {answer} in {last['duration_ms']} ms{then}"


@click.command()
@click.argument("topic")
@click.option(
    "--webhook", "webhook_ids", multiple=True, help="Webhook id (repeatable); default: every enabled one on TOPIC."
)
@click.option(
    "--api",
    "base",
    envvar="DOCHOOKS_API_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The running service's address. [env: DOCHOOKS_API_URL]",
)
@click.option("--token", envvar="DOCHOOKS_TOKEN", required=True, help="The tenant's API token. [env: DOCHOOKS_TOKEN]")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for each delivery's first outcome.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the outcomes.")
def trigger(topic: str, webhook_ids: tuple[str, ...], base: str, token: str, wait: bool, timeout: float) -> None:
    """Send a test delivery of TOPIC (an example payload) through a running service, to the
    webhooks subscribed to it or to those given; print what each endpoint answered."""
    api = Api(base, token)
    targets = list(webhook_ids) or [h["id"] for h in subscribed(api, topic)]
    if not targets:
        raise click.ClickException(f"no enabled webhook of this tenant is subscribed to {topic}; pass --webhook ID")
    queued = []
    for hook in targets:
        body = {"data": {"type": "webhook_tests", "attributes": {"topic": topic}}}
        delivery = api.call("POST", f"/v1/webhooks/{hook}/test", body)["data"]
        queued.append(delivery)
        click.echo(f"queued {topic} to webhook {hook}: delivery {delivery['id']}")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    failed = False
    for delivery in queued:
        while delivery["attributes"]["status"] not in SETTLED and not delivery["attributes"]["attempts"]:
            if time.monotonic() > deadline:
                raise click.ClickException(f"delivery {delivery['id']}: no outcome within {timeout:g} s")
            time.sleep(0.1)
            delivery = api.call("GET", f"/v1/deliveries/{delivery['id']}")["data"]
        failed |= delivery["attributes"]["status"] != "succeeded"
        click.echo(f"delivery {delivery['id']} to webhook {delivery['attributes']['webhook_id']}: {outcome(delivery)}")
    if failed:
        raise SystemExit(1)
