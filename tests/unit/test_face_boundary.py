"""Neither web face imports the other: the JSON:API (`api/`) and the pages (`ui/`) share only
`web/` and the domain, and `dochooks.app` alone composes them."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dochooks"
# Each package and what its modules must not import.
FORBIDDEN = {
    "dochooks.api": ("dochooks.ui", "dochooks.app"),
    "dochooks.ui": ("dochooks.api", "dochooks.app"),
    "dochooks.web": ("dochooks.api", "dochooks.ui", "dochooks.app"),
}


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module (or name in a module) an import names, relative imports resolved from `package`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _crossings(tree: ast.AST, package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        {
            f"line {line}: {name}"
            for line, name in _imported(tree, package)
            if any(name == other or name.startswith(other + ".") for other in forbidden)
        }
    )


def test_neither_face_imports_the_other_and_what_they_share_imports_neither() -> None:
    found = {}
    for package, forbidden in FORBIDDEN.items():
        folder = PACKAGE / package.split(".")[1]
        modules = list(folder.rglob("*.py"))
        assert len(modules) > 3, f"{folder} has no modules: the test would pass for nothing"
        for path in modules:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            if crossings := _crossings(tree, package, forbidden):
                found[str(path.relative_to(PACKAGE))] = crossings
    assert found == {}


def test_the_check_sees_every_spelling_of_an_import() -> None:
    source = "\n".join(
        [
            "from dochooks.ui.render import page",
            "from dochooks import ui",
            "import dochooks.ui.auth as auth",
            "from ..ui import sessions",
            "from . import jsonapi",
            "from dochooks.uikit import nothing",
        ]
    )
    assert _crossings(ast.parse(source), "dochooks.api", ("dochooks.ui",)) == [
        "line 1: dochooks.ui.render",
        "line 1: dochooks.ui.render.page",
        "line 2: dochooks.ui",
        "line 3: dochooks.ui.auth",
        "line 4: dochooks.ui",
        "line 4: dochooks.ui.sessions",
    ]
