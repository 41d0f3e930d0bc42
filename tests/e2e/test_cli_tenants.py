"""`dochooks tenant ...` and `dochooks token ...` as an operator runs them, against a running service."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.factories.clients import Api
from tests.factories.commands import DOCHOOKS, cli, served, tenant


def failing(db_url: str, *args: str) -> str:
    """Run a command that must fail: its one-line error, without a traceback."""
    done = subprocess.run([DOCHOOKS, *args, "--database-url", db_url], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr


def test_tenant_names_are_unique_and_a_tenant_can_be_listed_shown_and_renamed(db_url: str) -> None:
    env = dict(os.environ)
    acme = tenant(db_url, "acme", env)
    assert "a tenant named 'acme' already exists" in failing(db_url, "tenant", "create", "acme")
    tenant(db_url, "globex", env)
    assert "a tenant named 'globex' already exists" in failing(db_url, "tenant", "rename", "acme", "globex")
    assert "no tenant named 'nobody'" in failing(db_url, "tenant", "show", "nobody")
    assert "is now named 'initech'" in cli(db_url, "tenant", "rename", "acme", "initech", env=env)
    listed = json.loads(cli(db_url, "tenant", "list", "--json", env=env))
    assert [(t["name"], t["tokens"]) for t in listed] == [("initech", 1), ("globex", 1)]
    shown = json.loads(cli(db_url, "tenant", "show", str(acme["tenant_id"]), "--json", env=env))
    assert shown["name"] == "initech" and shown["token_names"] == ["default"]


def test_a_named_token_works_until_it_is_revoked_and_not_a_moment_longer(db_url: str, tmp_path: Path) -> None:
    with served(db_url, tmp_path) as service:
        acme = tenant(db_url, "acme", service.env)
        made = json.loads(cli(db_url, "token", "create", "acme", "--name", "ci", "--json", env=service.env))
        ci = Api(service.base, made["token"])
        assert ci.call("GET", "/v1/webhooks")[0] == 200
        assert "already has a token named 'ci'" in failing(db_url, "token", "create", "acme", "--name", "ci")
        listed = json.loads(cli(db_url, "token", "list", "acme", "--json", env=service.env))
        assert [t["name"] for t in listed] == ["default", "ci"]
        assert listed[1]["prefix"] == made["token"][:11] and listed[1]["last_used_at"] is not None
        assert listed[0]["last_used_at"] is None  # the default token was not used yet
        text = cli(db_url, "token", "list", "acme", env=service.env)
        assert made["token"][:11] in text and made["token"] not in text  # shown once, never again

        assert "revoked token 'ci'" in cli(db_url, "token", "revoke", "acme", made["token"][:9], env=service.env)
        assert ci.call("GET", "/v1/webhooks")[0] == 401
        assert Api(service.base, str(acme["token"])).call("GET", "/v1/webhooks")[0] == 200
        assert "revoked token 'default'" in cli(db_url, "token", "revoke", "acme", "default", env=service.env)
        assert Api(service.base, str(acme["token"])).call("GET", "/v1/webhooks")[0] == 401
        assert "no token named or starting with 'ci'" in failing(db_url, "token", "revoke", "acme", "ci")
