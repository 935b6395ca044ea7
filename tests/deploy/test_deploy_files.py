"""What can be checked of the container setup without a Docker engine."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from backend.devserver import cli_process

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_structure():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "api", "worker"} <= set(services)
    assert services["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in services["redis"]
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


def _make_dry_run(target: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        # --no-print-directory: under a parent make (`make test`) make would add its own
        # "Entering directory" lines to the commands.
        ["make", "-n", "--no-print-directory", target, "VENV=/nonexistent/venv"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def test_every_install_exports_the_text_model_after_installing_the_project():
    export = 'python -c "from backend.ml import text_encoder; text_encoder.export_at_install()"'
    for target in ("install", "install-cpu"):
        commands = _make_dry_run(target)
        project = next(i for i, c in enumerate(commands) if "pip install -e '.[dev]'" in c)
        assert commands[-1] == f"/nonexistent/venv/bin/{export}", (target, commands)
        assert project < len(commands) - 1
    # The CPU target takes torch and torchvision (pinned) from the CPU wheel index first, so
    # the project's own torch==2.14.1 requirement is already met by the +cpu build.
    cpu = _make_dry_run("install-cpu")
    torch = next(i for i, c in enumerate(cpu) if "torch==2.14.1 torchvision==0.29.1" in c)
    assert "--index-url https://download.pytorch.org/whl/cpu" in cpu[torch]
    assert torch < next(i for i, c in enumerate(cpu) if "pip install -e '.[dev]'" in c)
    # The image does the same: install, then the export, as root before the app user exists.
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    installed = next(i for i, line in enumerate(lines) if "pip install ." in line)
    exported = next(i for i, line in enumerate(lines) if line == f"RUN {export}")
    assert installed < exported < lines.index("USER app")
