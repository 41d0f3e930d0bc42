"""What every `dochooks` command shares: a flag per setting, settings from flags and the
environment (and logging set up from them), and one-line errors instead of tracebacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from dochooks import logs
from dochooks.errors import DochooksError
from dochooks.settings import Settings, describe, env_name, from_env

_TYPES: dict[str, Any] = {"int": int, "float": float, "Path": click.Path(file_okay=False, path_type=Path)}


def settings_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One flag per named setting, each with its DOCHOOKS_* twin named in --help."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        fields = {f.name: f for f in Settings.__dataclass_fields__.values()}
        for name, default, text in reversed(describe()):
            if name not in names:
                continue
            flag = "--" + name.replace("_", "-")
            text = f"{text} [env {env_name(name)}; default {default}]"
            kind = str(fields[name].type).split(" | ")[0]
            if kind == "bool":
                command = click.option(flag, name, is_flag=True, flag_value=True, default=None, help=text)(command)
            else:
                command = click.option(flag, name, type=_TYPES.get(kind, str), default=None, help=text)(command)
        return command

    return decorate


def settings_from(flags: dict[str, Any]) -> Settings:
    settings = from_env(**flags)
    if settings.log_format not in logs.FORMATS:
        raise click.BadParameter(f"one of {', '.join(logs.FORMATS)}", param_hint="--log-format")
    logs.configure(settings.log_level, settings.log_format)
    return settings


class Group(click.Group):
    """Turns dochooks' own errors into a one-line message and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DochooksError as exc:
            raise click.ClickException(exc.detail) from exc


def install_uvloop() -> None:
    """uvloop as asyncio's loop, where the platform has it (the standard loop works, only slower)."""
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()
