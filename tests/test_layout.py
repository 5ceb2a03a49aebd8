"""Where decisions live: the environment is read in one module, packages depend in one direction."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "edvr_cli"


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_environment_is_read_in_env_only():
    readers = [p.relative_to(SRC) for p in modules()
               if p.name != "env.py" and re.search(r"os\.environ|os\.getenv", p.read_text(encoding="utf-8"))]
    assert readers == []


def test_only_the_cli_imports_the_cli():
    users = [p.relative_to(SRC) for p in modules() if "cli" not in p.relative_to(SRC).parts[:1]
             and p.name != "__main__.py" and any(m.startswith("edvr_cli.cli") for m in imported(p))]
    assert users == []


def test_the_model_package_needs_nothing_of_the_engine_or_the_jobs():
    users = [p.relative_to(SRC) for p in (SRC / "model").rglob("*.py")
             if any(m.startswith(("edvr_cli.engine", "edvr_cli.jobs")) for m in imported(p))]
    assert users == []


def test_no_string_test_for_standard_output_outside_its_rule():
    """``-`` as OUTPUT is decided by ``video.paths.output_kind`` / ``is_stdout``, not by string tests."""
    pattern = re.compile(r"""(str\(\w+\)|output_path|dst)\s*[!=]=\s*["']-["']""")
    offenders = [f"{p.relative_to(SRC)}:{n}" for p in (SRC / "jobs").rglob("*.py")
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []
