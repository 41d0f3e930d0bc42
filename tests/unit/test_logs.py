from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from dochooks import logs
from dochooks.settings import Settings, shown


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's lines while the test runs; its handlers as they were afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()  # not a terminal
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_off_a_terminal_each_line_is_a_json_object_with_its_fields(captured: io.StringIO) -> None:
    logs.configure("info", "auto", captured)
    logging.getLogger("dochooks.test").info("delivery %d failed", 7, extra=logs.fields(webhook=3, status=None))
    logging.getLogger("dochooks.test").debug("below the level")
    (line,) = [json.loads(text) for text in captured.getvalue().splitlines()]
    assert line.pop("time").endswith("Z")
    assert line == {"level": "info", "logger": "dochooks.test", "message": "delivery 7 failed", "webhook": 3}


def test_an_error_keeps_its_traceback_in_its_own_line(captured: io.StringIO) -> None:
    logs.configure("info", "json", captured)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("dochooks.test").exception("it broke")
    (line,) = [json.loads(text) for text in captured.getvalue().splitlines()]
    assert line["message"] == "it broke" and "ValueError: broken" in line["error"]


def test_text_shows_the_fields_as_key_value_after_the_message(captured: io.StringIO) -> None:
    logs.configure("warning", "text", captured)
    logging.getLogger("dochooks.test").warning("webhook 3 disabled", extra=logs.fields(webhook=3, reason="410"))
    assert captured.getvalue().rstrip().endswith("WARNING dochooks.test: webhook 3 disabled webhook=3 reason=410")


def test_uvicorn_lines_come_out_in_the_same_format(captured: io.StringIO) -> None:
    logs.configure("info", "json", captured)
    logging.getLogger("uvicorn.error").info("Started server process")
    assert json.loads(captured.getvalue())["logger"] == "uvicorn.error"


def test_the_settings_line_masks_secrets_and_passwords_in_urls() -> None:
    settings = Settings(
        database_url="postgresql://app:s3cret-pw@db.internal:5432/dochooks",
        secret_key="fernet-key-material",
        metrics_token="metrics-token-value",
        egress_proxy="http://proxyuser:proxy-pw@proxy:3128",
    )
    line = shown(settings)
    assert line["database_url"] == "postgresql://app:********@db.internal:5432/dochooks"
    assert line["egress_proxy"] == "http://proxyuser:********@proxy:3128"
    assert line["secret_key"] == line["metrics_token"] == "********"
    text = json.dumps(line)
    assert not any(secret in text for secret in ("s3cret-pw", "fernet-key-material", "metrics-token-value", "proxy-pw"))
    assert shown(Settings())["secret_key"] is None  # unset: nothing to hide


def test_a_url_in_foreign_text_is_not_logged() -> None:
    aiohttp_text = "400, message='Bad Request', url='https://hooks.example.com/in/tok_9f2c?key=s3cret'"
    assert logs.scrubbed(aiohttp_text) == "400, message='Bad Request', url='<url>'"
    plain = "Cannot connect to host 127.0.0.1:9 ssl:default"
    assert logs.scrubbed(plain) == plain
    assert logs.scrubbed(None) is None


def test_a_password_given_as_a_url_parameter_is_masked_too() -> None:
    line = shown(Settings(database_url="postgresql://db.internal/dochooks?sslmode=require&password=pw-in-query"))
    assert line["database_url"] == "postgresql://db.internal/dochooks?sslmode=require&password=********"
