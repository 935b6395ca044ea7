"""Start and stop a real uvicorn server in a child process (tests and benchmarks share this)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from backend.config import PROJECT_ROOT, Settings
from backend.server.processes import server_environment, shared_cache_dir


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any Settings variable, plus `settings` (upper-cased).

    Test runs set Settings variables for the in-process app; a child server must see only its own.
    """
    names = {name.upper() for name in Settings.model_fields}
    env = {key: value for key, value in os.environ.items() if key.upper() not in names}
    # Servers started here serve test clients that all come from 127.0.0.1: the per-address
    # sign-up and login budgets are lifted unless given (tests of the limits set their own).
    env["REGISTRATIONS_PER_ADDRESS"] = "100000"
    env["LOGIN_ADDRESS_MAX_FAILURES"] = "100000"
    env.update({key.upper(): str(value) for key, value in settings.items()})
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def cli_process(args: list[str], env: dict[str, str], **popen: Any) -> subprocess.Popen:
    """`python -m backend.cli ARGS` started in the project root; `popen` sets its stdio."""
    return subprocess.Popen(
        [sys.executable, "-m", "backend.cli", *args], cwd=PROJECT_ROOT, env=env, **popen
    )


def run_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> str:
    """`python -m backend.cli ARGS`; raises RuntimeError with the output when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"backend.cli {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return result.stdout


@dataclass
class DevServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def wait(self, path: str = "/health", timeout: float = 120.0) -> float:
        """Seconds until `path` answers 200; RuntimeError (with the log) if it never does."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(self.base_url + path, timeout=2.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{path} not 200 within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the server's process group (workers included), SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _runs_jobs(env: dict[str, str]) -> bool:
    return any(
        env.get(name, "true").strip().lower() in ("1", "true", "yes", "on")
        for name in ("TRAIN_ON_STARTUP", "BUILD_INDEX_ON_STARTUP")
    )


def start_server(
    env: dict[str, str],
    log_path: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    jobs: bool | None = None,
) -> DevServer:
    """The service on 127.0.0.1 in its own process group; call `wait()` next.

    With `jobs` (default: when TRAIN_ON_STARTUP or BUILD_INDEX_ON_STARTUP is on) it is what
    `make run` starts, the API and the job worker (`backend.cli run`); otherwise uvicorn alone.
    """
    port = port or free_port()
    if jobs is None:
        jobs = _runs_jobs(env)
    if jobs:
        return start_cli("run", {**env, "WEB_CONCURRENCY": str(workers)}, log_path, port)
    args = ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    if workers > 1:  # shaped as `backend.cli api` serves several workers
        args += ["--workers", str(workers)]
        if not env.get("REDIS_URL"):
            shared = shared_cache_dir(Path(env.get("DATA_DIR", PROJECT_ROOT / "data")))
            env = {"RECOMMENDATION_CACHE_DIR": str(shared), **env}
    command = [sys.executable, "-m", "uvicorn", "backend.main:app", *args]
    return _spawn(command, env, log_path, port)


def start_cli(command: str, env: dict[str, str], log_path: Path, port: int) -> DevServer:
    """`python -m backend.cli COMMAND` (`api`, or `run`: the API and the job worker) as the
    container starts it, on 127.0.0.1:`port` in its own process group; call `wait()` next."""
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    return _spawn([sys.executable, "-m", "backend.cli", command], env, log_path, port)


def _spawn(command: list[str], env: dict[str, str], log_path: Path, port: int) -> DevServer:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=server_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return DevServer(f"http://127.0.0.1:{port}", process, log_path)
