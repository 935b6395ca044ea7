"""The import graph runs one way: api -> jobs -> services -> core (contracts in pyproject.toml).

`lint-imports` runs in a child process: import-linter configures logging when it runs, which
must not leak into the other tests of the session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FACADES = ("backend.ml.recommender ->", "backend.ml.embedding_recommender ->")


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", command, "--no-cache", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_layer_contracts_are_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_only_the_seed_facades_are_exempt() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = config["contracts"]
    assert any(c["type"] == "layers" for c in contracts), contracts
    ignored = [i for c in contracts for i in c.get("ignore_imports", [])]
    assert ignored and all(i.startswith(FACADES) for i in ignored), ignored


def test_a_reversed_import_is_reported(tmp_path: Path) -> None:
    """The checker sees the real graph: a contract the code breaks (services use the core)
    fails, so the kept contracts above are not kept by an empty graph."""
    config = tmp_path / "reversed.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_package = "backend"\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "reversed"\n'
        'type = "layers"\n'
        'layers = ["backend.ml", "backend.services"]\n'
    )
    result = lint_imports("--config", str(config))
    assert result.returncode != 0
    assert "backend.services.recommendations -> backend.ml" in result.stdout, result.stdout
