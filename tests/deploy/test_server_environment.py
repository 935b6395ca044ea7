"""Serving processes start with a bounded number of malloc arenas (worker RSS), unless the
operator chose a value, and several workers without Redis share the recommendation cache
through a directory."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from backend.config import PROJECT_ROOT, Settings
from backend.devserver import cli_process, free_port
from backend.server.processes import server_environment


def test_serving_environment_bounds_malloc_arenas():
    assert server_environment({"PATH": "/bin"}) == {"PATH": "/bin", "MALLOC_ARENA_MAX": "2"}
    assert server_environment({"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"


def test_several_workers_without_redis_share_the_cache_through_a_directory(tmp_path):
    shared = str(tmp_path / "cache" / "recommendations")
    two = Settings(data_dir=tmp_path, web_concurrency=2)
    assert server_environment({}, two)["RECOMMENDATION_CACHE_DIR"] == shared
    chosen = {"RECOMMENDATION_CACHE_DIR": "/srv/cache"}
    assert server_environment(chosen, two)["RECOMMENDATION_CACHE_DIR"] == "/srv/cache"
    one = two.model_copy(update={"web_concurrency": 1})
    redis = two.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    assert "RECOMMENDATION_CACHE_DIR" not in server_environment({}, one)
    assert "RECOMMENDATION_CACHE_DIR" not in server_environment({}, redis)
    # Chosen in .env: the workers read it from there (an environment value would override it).
    dotenv = two.model_copy(update={"recommendation_cache_dir": Path("/srv/dotenv")})
    assert "RECOMMENDATION_CACHE_DIR" not in server_environment({}, dotenv)


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
    shared = tmp_path / "cache" / "recommendations"
    assert f"RECOMMENDATION_CACHE_DIR={shared}".encode() in environ
