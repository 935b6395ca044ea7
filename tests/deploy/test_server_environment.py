"""Serving processes start with a bounded number of malloc arenas (worker RSS), unless the
operator chose a value."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from backend.config import PROJECT_ROOT
from backend.devserver import cli_process, free_port
from backend.server.processes import server_environment


def test_serving_environment_bounds_malloc_arenas():
    assert server_environment({"PATH": "/bin"}) == {"PATH": "/bin", "MALLOC_ARENA_MAX": "2"}
    assert server_environment({"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"


def test_backend_cli_api_execs_uvicorn_with_it(tmp_path):
    """`backend.cli api` replaces itself with uvicorn carrying the variable (read back from
    /proc, where the kernel keeps the environment the new program started with)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/app.db",
        "PORT": str(free_port()),
        "HF_HUB_OFFLINE": "1",
    }
    process = cli_process(["api"], env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = Path(f"/proc/{process.pid}")
    try:
        deadline = time.monotonic() + 60
        while b"uvicorn" not in (proc / "cmdline").read_bytes():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        environ = (proc / "environ").read_bytes().split(b"\0")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert b"MALLOC_ARENA_MAX=2" in environ
