"""What can be checked of the container setup without a Docker engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import yaml

from backend.devserver import cli_process

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_structure():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "api", "worker"} <= set(services)
    assert "healthcheck" in services["db"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
        assert "appdata:/data" in services[name]["volumes"]
    # Jobs run in the worker service only; the API is uvicorn with the limits from Settings.
    assert "backend.cli api" in " ".join(services["api"]["command"])
    assert "backend.cli worker" in " ".join(services["worker"]["command"])
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["driver"] == "nvidia"
    assert {"pgdata", "appdata"} <= set(compose["volumes"])


def test_dockerfile_essentials():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# syntax=docker/dockerfile:1")
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "torch==2.14.1" in text and "torchvision==0.29.1" in text
    assert re.search(r"^USER app$", text, re.M)
    assert "HEALTHCHECK" in text and "/ready" in text
    assert "backend.cli prepare" in text and "backend.cli api" in text


def test_worker_process_starts_and_stops_cleanly(tmp_path):
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path),
        "TRAIN_ON_STARTUP": "false",
        "BUILD_INDEX_ON_STARTUP": "false",
        "LOG_LEVEL": "INFO",
    }
    proc = cli_process(["worker"], env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "job worker running" in line:
                break
        assert any("job worker running" in line for line in lines), lines
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
