"""The architecture rule of STYLE §1, enforced: engines never import the API, the API no drivers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "opendrs"
DRIVERS = {"pymysql", "psycopg", "psycopg2", "redis", "pymysqlreplication"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((SRC / "api").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_api_uses_no_driver(path: Path) -> None:
    assert not {n.split(".")[0] for n in _imports(path)} & DRIVERS


@pytest.mark.parametrize(
    "path",
    sorted(p for d in ("engines", "pipeline", "store", "compare", "precheck") for p in (SRC / d).rglob("*.py")),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_inner_layers_never_import_the_api(path: Path) -> None:
    assert not any(n.startswith(("opendrs.api", "opendrs.cli")) for n in _imports(path))
