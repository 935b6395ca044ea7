"""Starting the service: the API (uvicorn with the limits from Settings) and the job worker.

`python -m backend.cli run` starts both and stops both when either exits or on Ctrl-C/SIGTERM:
the embedded default (`make run`) is one command. Containers run them as separate services
(`api` and `worker` in docker-compose.yml).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from backend.config import Settings

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 20.0
# glibc gives each thread that allocates its own malloc arena; a worker's thread pool of 40
# then keeps hundreds of MB of freed numpy buffers (one worker measured 621 MB against 483 MB
# with 2 arenas in the same HTTP benchmark). Set before the process starts: glibc reads it once.
MALLOC_ARENAS = "2"


def shared_cache_dir(data_dir: Path) -> Path:
    """Where several workers without Redis share the recommendation cache."""
    return data_dir / "cache" / "recommendations"


def server_environment(
    base: Mapping[str, str] | None = None, settings: Settings | None = None
) -> dict[str, str]:
    """The environment for a serving process: `base` (default: ours) with MALLOC_ARENA_MAX
    unless it is already set, and, for several workers without Redis or a chosen directory,
    `shared_cache_dir` (each worker's own LRU alone computes every list once per worker, and a
    user's next request may go to the other one)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    if (
        settings is not None
        and settings.web_concurrency > 1
        and not settings.redis_url
        and settings.recommendation_cache_dir is None  # chosen in the environment or .env
    ):
        env.setdefault("RECOMMENDATION_CACHE_DIR", str(shared_cache_dir(settings.data_dir)))
    return env


def uvicorn_command(settings: Settings, workers: int | None = None) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "backend.main:app",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(workers or settings.web_concurrency),
        "--http",
        "backend.server.protocol:BoundedHttpToolsProtocol",  # uvloop: uvicorn's default
        "--timeout-keep-alive",
        str(int(settings.keep_alive_timeout_seconds)),
        "--limit-concurrency",
        str(settings.max_connections),
        "--timeout-graceful-shutdown",
        "15",
    ]
    if not settings.access_log:
        command.append("--no-access-log")
    if settings.forwarded_allow_ips:
        command += ["--proxy-headers", "--forwarded-allow-ips", settings.forwarded_allow_ips]
    else:
        command.append("--no-proxy-headers")
    return command


def worker_command() -> list[str]:
    return [sys.executable, "-m", "backend.jobs.worker"]


def run_api(settings: Settings) -> int:
    """Replace this process with uvicorn (containers: PID 1 gets the signals)."""
    command = uvicorn_command(settings)
    os.execve(command[0], command, server_environment(settings=settings))
    return 0  # not reached


def supervise(settings: Settings) -> int:
    """Run the API and the worker until one exits or we are asked to stop; return its code."""
    children = {
        "worker": subprocess.Popen(worker_command()),
        "api": subprocess.Popen(
            uvicorn_command(settings), env=server_environment(settings=settings)
        ),
    }
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"serving on http://{settings.host}:{settings.port} ({settings.web_concurrency} workers) "
        "with the job worker; Ctrl-C stops both",
        flush=True,
    )
    code = 0
    try:
        while not stopping:
            exited = {name: p.returncode for name, p in children.items() if p.poll() is not None}
            if exited:
                name, code = next(iter(exited.items()))
                print(f"{name} exited with code {code}; stopping the other", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in children.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return code
