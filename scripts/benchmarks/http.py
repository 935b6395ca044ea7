"""Recommendations over HTTP: 2 uvicorn workers, 16 concurrent clients, 600 distinct users.

The server is started as the service runs (`python -m backend.cli api`: uvicorn with the
request-head bounds on httptools, uvloop, limits and access log from Settings).

One warm-up pass over the users (fills the cache and every worker's model state), then the
measured load: with `wrk` on the PATH (Debian package `wrk`), 16 connections for `--seconds`
cycling through the users, so the load generator (C, a few microseconds a request) does not
compete with the two workers for the two cores; otherwise `--passes` passes of 16 httpx
clients (about 2 ms of Python CPU a request, which shows in the latencies). Three runs, each on
a fresh copy of the benchmark catalogue: the embedded default (each worker's LRU in front of
one directory cache the workers share, which `backend.cli api` sets up for several workers
without Redis), with one Redis cache shared by the workers (the deployed shape; --redis-url,
or a throwaway `redis-server` this benchmark starts when one is on the PATH; each worker's LRU
in front of it too), and with RECOMMENDATION_CACHE=false. Also each worker's resident memory
at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from backend.devserver import free_port, start_cli
from scripts.benchmarks.common import log, rss_mb, save_section, stats_ms
from scripts.benchmarks.dataset import ADMIN, ADMIN_PASSWORD, env_for, working_copy

CLIENTS = 16
WRK_SCRIPT = Path(__file__).with_name("http_load.lua")


async def _drive(base: str, token: str, paths: list[str], clients: int) -> dict:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as c:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                path = queue.get_nowait()
                started = time.perf_counter()
                try:
                    reply = await c.get(path)
                    ok = reply.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {**stats_ms(latencies), "errors": errors, "rps": round(len(paths) / wall, 1)}


def _drive_wrk(base: str, token: str, paths: list[str], seconds: int, workdir: Path) -> dict:
    """`wrk` with CLIENTS connections for `seconds`, cycling through `paths`."""
    listing = workdir / "paths.txt"
    listing.write_text("\n".join(paths) + "\n")
    command = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["-s", str(WRK_SCRIPT), base, "--", str(listing), token]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {**json.loads(out.strip().splitlines()[-1]), "load_generator": "wrk"}


def _worker_pids(master: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{master}/task").iterdir():
            text = (task / "children").read_text().split()
            children += [int(pid) for pid in text]
    return children


def run_one(
    label: str,
    workers: int,
    users: list[int],
    passes: int,
    seconds: int,
    port: int = 0,
    **settings: str,
) -> dict:
    with tempfile.TemporaryDirectory(prefix="movierec-http-") as tmp:
        home = working_copy(Path(tmp) / "catalogue")
        env = env_for(home, web_concurrency=str(workers), **settings)
        # The production command (`backend.cli api`: uvicorn with the protocol, limits and
        # access-log setting the service runs with), not a bare uvicorn.
        server = start_cli("api", env, Path(tmp) / "server.log", port or free_port())
        try:
            ready = server.wait("/ready", timeout=300)
            token = httpx.post(
                f"{server.base_url}/auth/login",
                data={"username": ADMIN, "password": ADMIN_PASSWORD},
                timeout=30,
            ).json()["access_token"]
            paths = [f"/movies/recommendations?user_id={u}&limit=10" for u in users]
            warm = asyncio.run(_drive(server.base_url, token, paths, CLIENTS))
            if shutil.which("wrk"):
                result = _drive_wrk(server.base_url, token, paths, seconds, Path(tmp))
            else:
                result = asyncio.run(_drive(server.base_url, token, paths * passes, CLIENTS))
                result["load_generator"] = "httpx"
            rss = [rss_mb(pid) for pid in _worker_pids(server.process.pid)]
        finally:
            server.stop()
    figures = {"ready_seconds": round(ready, 1), "warm_up": warm, **result, "worker_rss_mb": rss}
    log(f"http {label}: {figures}")
    return figures


@contextlib.contextmanager
def shared_redis(url: str) -> Iterator[str]:
    """`url` flushed, or a throwaway `redis-server` on a free port (no persistence) when none is
    given and one is installed; "" when there is neither."""
    if url:
        from redis import Redis

        Redis.from_url(url).flushdb()
        yield url
        return
    if shutil.which("redis-server") is None:
        yield ""
        return
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not _answers(url):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answers(url: str) -> bool:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    try:
        return bool(Redis.from_url(url).ping())
    except RedisConnectionError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--passes", type=int, default=2, help="measured passes (httpx client)")
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds (wrk)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default="", help="share the cache through this Redis")
    parser.add_argument("--port", type=int, default=0, help="the server's port (0: a free one)")
    args = parser.parse_args(argv)
    from sqlalchemy import create_engine, text

    home = working_copy(Path(tempfile.gettempdir()) / "movierec-http-users")
    engine = create_engine(f"sqlite:///{home / 'app.db'}")
    with engine.connect() as conn:
        query = "SELECT id FROM users WHERE movielens_user_id IS NOT NULL ORDER BY id LIMIT :n"
        users = [row[0] for row in conn.execute(text(query), {"n": args.users})]
    engine.dispose()

    def run(label: str, **settings: str) -> dict:
        return run_one(label, args.workers, users, args.passes, args.seconds, args.port, **settings)

    figures = {
        "clients": CLIENTS,
        "workers": args.workers,
        "users": len(users),
        "passes": args.passes,
        "server": "backend.cli api (uvicorn, httptools with the request-head bounds, uvloop)",
        "with_cache": run("with cache (embedded default: worker LRUs, one directory cache)"),
    }
    with shared_redis(args.redis_url) as redis_url:
        if redis_url:
            figures["with_shared_cache"] = run("with one Redis cache", redis_url=redis_url)
    figures["without_cache"] = run("cache disabled", recommendation_cache="false")
    save_section("http", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
