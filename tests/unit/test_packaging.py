"""The files the service reads at run time ship in the wheel. The tests run on an editable
install, which reads them from the tree, so only this test notices a file that
`package-data` does not name (say, a template one folder deeper)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "dochooks"


def test_every_template_static_file_and_migration_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dochooks"]
    needed = [
        path.relative_to(PACKAGE)
        for folder in ("ui/templates", "ui/static", "web/docs_static", "db/migrations")
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert needed, "no data files found: the test would pass for nothing"
    missing = [str(path) for path in needed if not any(_globbed(path, glob) for glob in globs)]
    assert missing == []


def _globbed(path: Path, glob: str) -> bool:
    """Whether setuptools' glob names the path: `*` stays within one folder."""
    return len(path.parts) == len(Path(glob).parts) and path.match(glob)
