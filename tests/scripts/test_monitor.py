"""scripts/monitor_embeddings.py against the test catalogue: JSON keys, targets, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.database import SessionLocal
from scripts import monitor_embeddings as monitor

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "monitor_embeddings.py"


def test_json_report_has_quality_latency_targets_and_samples(loaded, capsys):
    code = monitor.main(["--users", "8", "--json"], runtime=loaded, session_factory=SessionLocal)
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    quality = report["quality"]
    for key in ("coverage", "movies_in_index", "total_movies", "poster_coverage", "device"):
        assert key in quality
    assert quality["total_movies"] == quality["movies_in_index"] > 0
    assert set(report["latency"]) == {"embedding", "svd", "hybrid"}
    for stats in report["latency"].values():
        for key in ("cold_first_call_ms", "warm_p50_ms", "p95_ms", "p99_ms"):
            assert isinstance(stats[key], float) and stats[key] >= 0
        assert stats["n_warm_calls"] == report["n_users"] == 8
    assert len(report["targets"]) == 9
    assert {t["status"] for t in report["targets"]} <= {"PASS", "FAIL"}
    assert report["passed"] == all(t["status"] == "PASS" for t in report["targets"])
    assert 1 <= len(report["samples"]) <= 5
    for sample in report["samples"]:
        assert sample["title"] and isinstance(sample["vote_average"], float)


def test_text_report_and_strict_exit_code(loaded, capsys, monkeypatch):
    assert monitor.main(["--users", "3"], runtime=loaded, session_factory=SessionLocal) == 0
    out = capsys.readouterr().out
    assert "coverage" in out and "PASS" in out and "vote average" in out
    # an impossible target makes --strict fail (and only --strict)
    monkeypatch.setitem(monitor.TARGETS_MS, "warm_p50_ms", 0.0)
    args = ["--users", "3", "--json"]
    assert monitor.main(args, runtime=loaded, session_factory=SessionLocal) == 0
    assert monitor.main(args + ["--strict"], runtime=loaded, session_factory=SessionLocal) == 1
    capsys.readouterr()


def test_empty_database_is_one_line_and_non_zero(committed_db, loaded, capsys):
    # the `committed_db` fixture empties the tables (for the monitor's own sessions too)
    code = monitor.main(["--json"], runtime=loaded, session_factory=SessionLocal)
    err = capsys.readouterr().err.strip()
    assert code == monitor.EXIT_NO_DATABASE
    assert len(err.splitlines()) == 1 and err.startswith("error:") and "no movies" in err


@pytest.mark.skipif(sys.platform == "win32", reason="posix paths")
def test_unreachable_database_subprocess(tmp_path):
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/app.db",
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == monitor.EXIT_NO_DATABASE
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: database unreachable")
