"""Only `db/` knows which engine it runs on: everything else asks the dialect what it means."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dochooks"
ENGINE_NAMES = {"sqlite", "postgresql", "postgres"}
ENGINE_MODULES = {"dochooks.db.sqlite", "dochooks.db.postgres"}
ENGINE_CLASSES = {"SqliteDatabase", "PostgresDatabase"}


def _engine_checks(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in ENGINE_NAMES:
            found.append(f"line {node.lineno}: the engine's name {node.value!r}")
        elif isinstance(node, ast.ImportFrom) and (
            node.module in ENGINE_MODULES or any(alias.name in ENGINE_CLASSES for alias in node.names)
        ):
            found.append(f"line {node.lineno}: imports an engine")
        elif isinstance(node, ast.Name) and node.id in ENGINE_CLASSES:
            found.append(f"line {node.lineno}: names {node.id}")
    return found


def test_only_db_knows_which_engine_it_runs_on() -> None:
    outside = [path for path in PACKAGE.rglob("*.py") if path.relative_to(PACKAGE).parts[0] != "db"]
    assert len(outside) > 20, "the package was not found: the test would pass for nothing"
    found = {
        str(path.relative_to(PACKAGE)): checks
        for path in outside
        if (checks := _engine_checks(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_the_check_sees_an_engine_check() -> None:
    assert _engine_checks(ast.parse('if conn.dialect.name == "sqlite":\n    pass')) == [
        "line 1: the engine's name 'sqlite'"
    ]
    assert _engine_checks(ast.parse("from dochooks.db.sqlite import SqliteDatabase")) == ["line 1: imports an engine"]
