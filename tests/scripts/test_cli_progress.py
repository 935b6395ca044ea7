"""A long CLI step without a progress bar of its own says that it is still running."""

from __future__ import annotations

import time

from backend.cli import step


def test_step_heartbeat_reports_while_running_and_stops_after(capsys):
    with step("training", heartbeat=0.05):
        time.sleep(0.3)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "training..."
    assert lines[-1].startswith("training: done in ")
    beats = lines[1:-1]
    assert len(beats) >= 2 and all(line.startswith("... ") for line in beats)
    time.sleep(0.15)
    assert capsys.readouterr().out == ""  # the ticker ended with the step


def test_step_without_heartbeat_prints_only_start_and_end(capsys):
    with step("importing"):
        time.sleep(0.1)
    assert len(capsys.readouterr().out.splitlines()) == 2
