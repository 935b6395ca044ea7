"""The import graph runs one way: api -> jobs -> services -> core (contracts in pyproject.toml)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
FACADES = ("backend.ml.recommender ->", "backend.ml.embedding_recommender ->")


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))


def test_layer_contracts_are_kept(at_root: None, capsys: pytest.CaptureFixture) -> None:
    code = lint_imports(config_filename="pyproject.toml", no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, report
    assert "0 broken" in report


def test_only_the_seed_facades_are_exempt() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    names = {c["name"] for c in contracts}
    assert any(c["type"] == "layers" for c in contracts), names
    ignored = [i for c in contracts for i in c.get("ignore_imports", [])]
    assert ignored and all(i.startswith(FACADES) for i in ignored), ignored


def test_a_reversed_import_is_reported(
    at_root: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
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
    code = lint_imports(config_filename=os.fspath(config), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code != 0
    assert "backend.services.recommendations -> backend.ml" in report
