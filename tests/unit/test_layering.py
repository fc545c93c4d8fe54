"""The layers of ARCHITECTURE.md, read from the source: every import points down.

api/ cli/ evals/ bench/ (interfaces) → graph/ → agents/ → tools/ → core/. Nothing below the
interfaces imports FastAPI or api/; routes hold no SQL and never reach into the compiled
graph; the graph's shared resources are built only by whoever runs the graph.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT

RANK = {"core": 0, "tools": 1, "agents": 2, "graph": 3, "api": 4, "cli": 4, "evals": 4, "bench": 4}
INTERFACES = {name for name, rank in RANK.items() if rank == 4}
WEB = {"fastapi", "starlette", "sse_starlette", "uvicorn"}
DATABASE = {"psycopg", "psycopg_pool"}
# The entry points that build Resources and hand them to the graph in its runtime context.
RESOURCE_BUILDERS = {
    "api/runtime.py",
    "cli/plan.py",
    "cli/evals_cmd.py",
    "evals/run.py",
    "evals/fixtures.py",
    "evals/compression.py",
    "bench/graph_turn.py",
}
# What only the run manager touches: the compiled graph and its checkpointer.
GRAPH_INTERNALS = {"graph", "checkpointer", "aget_state", "aupdate_state", "adelete_thread"}
SQL = re.compile(
    r"\b(select|insert\s+into|update|delete\s+from)\b.+\b(from|set|where|values)\b", re.I | re.S
)


def _modules(root: Path = PROJECT_ROOT) -> Iterator[tuple[str, ast.Module]]:
    for package in RANK:
        for path in sorted((root / package).rglob("*.py")):
            yield path.relative_to(root).as_posix(), ast.parse(path.read_text(), str(path))


def _imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def violations(root: Path = PROJECT_ROOT) -> list[str]:
    """Return every import or statement that breaks the layering, as ``file: what``."""
    found = []
    for path, tree in _modules(root):
        package = path.split("/")[0]
        names = set(_imports(tree))
        for name in sorted(names):
            top = name.split(".")[0]
            if top in RANK and top != package:
                if RANK[top] > RANK[package] or (package == "api" and top in INTERFACES):
                    found.append(f"{path}: imports {name} (up or across the layers)")
            if top in WEB and package not in INTERFACES:
                found.append(f"{path}: imports {name} (web below the API)")
            if name == "core.resources" and package not in ("core", "graph"):
                if path not in RESOURCE_BUILDERS:
                    found.append(f"{path}: imports core.resources (not an entry point)")
        if path.startswith("api/routes/"):
            found += _route_violations(path, tree, names)
    return found


def _route_violations(path: str, tree: ast.Module, names: set[str]) -> list[str]:
    found = [
        f"{path}: imports {name} (a route does no SQL)"
        for name in sorted(names)
        if name.split(".")[0] in DATABASE or name.startswith("graph.chat_store")
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in GRAPH_INTERNALS:
            found.append(f"{path}:{node.lineno}: .{node.attr} (ask the RunManager)")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL.search(node.value):
                found.append(f"{path}:{node.lineno}: SQL in a route")
    return found


def test_the_source_then_every_import_points_down_and_routes_hold_no_sql():
    assert violations() == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("tools/bad.py", "from agents.llm import select_llm\n", "up or across"),
        ("graph/bad.py", "import api.deps\n", "up or across"),
        ("api/bad.py", "from cli.main import main\n", "up or across"),
        ("core/bad.py", "from fastapi import APIRouter\n", "web below the API"),
        ("agents/bad.py", "from core.resources import get_resources\n", "not an entry point"),
        ("api/routes/bad.py", "import psycopg\n", "a route does no SQL"),
        ("api/routes/bad.py", "Q = 'select id from chat.threads where id = %s'\n", "SQL"),
        ("api/routes/bad.py", "async def f(runs):\n    await runs.graph.aget_state({})\n", "ask"),
    ],
)
def test_a_module_that_breaks_a_rule_then_reported(tmp_path, path, source, expected):
    for package in RANK:
        (tmp_path / package).mkdir()
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)

    found = violations(tmp_path)

    assert len(found) >= 1 and all(path in f for f in found)
    assert any(expected in f for f in found), found
