"""The deployed shape under stress: the API with 2 uvicorn workers, a separate job worker, one
database (TEST_DATABASE_URL's PostgreSQL when set, else SQLite) and concurrent clients.

- concurrent writers lose nothing and never see a 5xx;
- 8 clients during a retrain and an index rebuild see 0 failed requests, and the serving
  workers' memory stays flat (the training runs in the worker process);
- kill -9 of the worker during a retrain and during an index build: the API keeps serving the
  good version, a restarted worker marks the job interrupted, cleans up and works again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from backend.database import make_engine
from backend.devserver import DevServer, cli_process, free_port, run_cli, start_cli
from tests.helpers import server_env, write_catalogue

PASSWORD = "chaos-password-1"
ADMIN = ("ops", "ops-password-1")
TABLES = "ratings, movies, users, jobs, rate_limit_counters"


def _clear(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _serving_workers(master: int) -> list[int]:
    """uvicorn's worker processes (multiprocessing children), not its resource tracker."""
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True
    )
    pids = [int(p) for p in out.stdout.split()]
    return [p for p in pids if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


class Deployment:
    def __init__(self, root: Path) -> None:
        self.root = root
        url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{root / 'chaos.db'}"
        self.url = url
        self.env = server_env(
            root,
            url,
            log_level="INFO",
            train_on_startup="true",
            build_index_on_startup="true",
            svd_n_factors="20",
            svd_n_epochs="15",
            model_reload_check_seconds="0.5",
            job_poll_seconds="0.2",
        )
        self.worker: subprocess.Popen | None = None

    def start_worker(self, **overrides: str) -> subprocess.Popen:
        env = {**self.env, **{k.upper(): v for k, v in overrides.items()}}
        log = (self.root / f"worker-{time.monotonic_ns()}.log").open("wb")
        self.worker = cli_process(["worker"], env, stdout=log, stderr=subprocess.STDOUT)
        return self.worker

    def stop_worker(self, sig: int = signal.SIGTERM) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(sig)
            self.worker.wait(timeout=60)


def _start_api(env: dict[str, str], log_path: Path) -> DevServer:
    """`backend.cli api` as the container runs it: uvicorn, 2 workers, limits from Settings."""
    return start_cli("api", {**env, "WEB_CONCURRENCY": "2"}, log_path, free_port())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("chaos")
    dep = Deployment(root)
    _clear(dep.url)
    catalogue = write_catalogue(root / "catalogue", n_movies=60, n_users=40, seed=5)
    run_cli(["migrate"], dep.env)
    run_cli(
        ["import-movielens", str(catalogue), "--metadata", str(catalogue / "metadata.csv")], dep.env
    )
    run_cli(
        ["create-admin", ADMIN[0], "--email", "ops@example.com", "--password", ADMIN[1]], dep.env
    )
    dep.server = _start_api(dep.env, root / "api.log")
    dep.start_worker()
    try:
        dep.server.wait("/health", timeout=180)
        dep.base = dep.server.base_url
        dep.admin = _token(dep.base, *ADMIN)
        _wait_jobs_done(dep, timeout=400)
        _wait(lambda: _ready(dep.base).get("embedding_index") not in (None, "not built"), 120)
        yield dep
    finally:
        dep.stop_worker()
        dep.server.stop()
        _clear(dep.url)


def _token(base: str, username: str, password: str) -> dict:
    reply = httpx.post(f"{base}/auth/login", data={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


def _user(base: str, name: str) -> dict:
    reply = httpx.post(
        f"{base}/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert reply.status_code == 201, reply.text
    return _token(base, name, PASSWORD)


def _ready(base: str) -> dict:
    try:
        reply = httpx.get(f"{base}/ready", headers={"Connection": "close"}, timeout=10)
    except httpx.HTTPError:
        return {}
    return reply.json()["checks"] if reply.status_code == 200 else {}


def _wait(condition, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"condition not met within {timeout} s")


def _jobs(dep: Deployment) -> list[dict]:
    return httpx.get(f"{dep.base}/admin/jobs", headers=dep.admin, timeout=10).json()


def _wait_jobs_done(dep: Deployment, timeout: float) -> None:
    _wait(lambda: not [j for j in _jobs(dep) if j["status"] in ("queued", "running")], timeout)


class Load:
    """`clients` threads reading recommendations, similar movies and /ready until stopped."""

    def __init__(self, base: str, headers: list[dict]) -> None:
        self.base, self.headers = base, headers
        self.failures: list[str] = []
        self.requests = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(h,)) for h in headers]

    def _run(self, headers: dict) -> None:
        paths = [
            "/movies/recommendations?limit=10&use_embeddings=true",
            "/movies/recommendations?limit=10&use_embeddings=false",
            "/movies/5/similar?limit=5",
            "/ready",
        ]
        with httpx.Client(base_url=self.base, headers=headers, timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                path = paths[i % len(paths)]
                i += 1
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as exc:
                    self.failures.append(f"{path}: {type(exc).__name__}")
                    continue
                self.requests += 1
                if status != 200:
                    self.failures.append(f"{path}: {status}")

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


def test_concurrent_writers_lose_nothing(deployment):
    base = deployment.base
    users = [_user(base, f"writer{n}") for n in range(8)]
    errors: list[str] = []

    def write(headers: dict, n: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for movie in range(1, 26):
                value = 0.5 + ((movie + n) % 10) / 2
                r = client.put(f"/movies/{movie}/rating", json={"rating": value})
                if r.status_code != 200:
                    errors.append(f"PUT {movie}: {r.status_code}")
            for i in range(20):  # the same rating raced by PUT and DELETE
                r = (
                    client.put("/movies/30/rating", json={"rating": 4})
                    if i % 2
                    else client.delete("/movies/30/rating")
                )
                if r.status_code >= 500:
                    errors.append(f"race {i}: {r.status_code}")

    threads = [threading.Thread(target=write, args=(h, n)) for n, h in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:10]
    for n, headers in enumerate(users):
        rows = httpx.get(f"{base}/users/me/ratings?limit=100", headers=headers).json()
        got = {r["movie"]["id"]: r["rating"] for r in rows if r["movie"]["id"] != 30}
        assert got == {m: 0.5 + ((m + n) % 10) / 2 for m in range(1, 26)}


def test_clients_see_no_failure_during_retrain_and_rebuild(deployment, capsys):
    dep = deployment
    before = _ready(dep.base)["models"]
    api_master = dep.server.process.pid
    serving = _serving_workers(api_master)
    assert len(serving) == 2, serving
    rss_before = {pid: _rss_mb(pid) for pid in serving}
    peak = dict(rss_before)
    worker_peak = 0.0
    users = [_user(dep.base, f"reader{n}") for n in range(8)]
    with Load(dep.base, users) as load:
        time.sleep(2)
        retrain = httpx.post(f"{dep.base}/admin/models/svd/retrain", headers=dep.admin)
        rebuild = httpx.post(f"{dep.base}/admin/embeddings/rebuild", headers=dep.admin)
        assert retrain.status_code == 202 and rebuild.status_code == 202, (retrain, rebuild)
        again = httpx.post(f"{dep.base}/admin/models/svd/retrain", headers=dep.admin)
        assert again.status_code == 409
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            for pid in serving:
                peak[pid] = max(peak[pid], _rss_mb(pid))
            worker_peak = max(worker_peak, _rss_mb(dep.worker.pid))
            if not [j for j in _jobs(dep) if j["status"] in ("queued", "running")]:
                break
            time.sleep(0.2)
        _wait(lambda: _ready(dep.base).get("models") not in (None, before), 30)
        time.sleep(2)  # both workers serve the new version under load
    rss_after = {pid: _rss_mb(pid) for pid in serving}
    jobs = {j["id"]: j for j in _jobs(dep)}
    assert jobs[retrain.json()["job_id"]]["status"] == "succeeded"
    assert jobs[rebuild.json()["job_id"]]["status"] == "succeeded"
    with capsys.disabled():
        print(
            f"\n[chaos] {load.requests} requests by 8 clients during a retrain and a rebuild, "
            f"{len(load.failures)} failed; serving workers' RSS MB before "
            f"{sorted(round(v) for v in rss_before.values())}, peak "
            f"{sorted(round(v) for v in peak.values())}, after "
            f"{sorted(round(v) for v in rss_after.values())}; job worker peak {worker_peak:.0f} MB"
        )
    assert load.requests > 50
    assert not load.failures, load.failures[:10]
    assert all(peak[pid] - rss_before[pid] < 250 for pid in serving), (rss_before, peak)


@pytest.mark.parametrize("kind", ["retrain", "rebuild_index"])
def test_kill_9_during_a_job_then_restart_serves_a_good_version(deployment, kind):
    dep = deployment
    ready_before = _ready(dep.base)
    dep.stop_worker()
    if kind == "retrain":
        dep.start_worker(svd_n_epochs="20000")  # slow enough to be killed mid-way
        endpoint = "/admin/models/svd/retrain"
    else:
        # Every movie's text changed: a full re-encode, one text at a time.
        engine = make_engine(dep.url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE movies SET overview = overview || ' (restored)'"))
        engine.dispose()
        dep.start_worker(text_batch_size="1")
        endpoint = "/admin/embeddings/rebuild"
    users = [_user(dep.base, f"kill{kind[:3]}{n}") for n in range(4)]
    with Load(dep.base, users) as load:
        job_id = httpx.post(f"{dep.base}{endpoint}", headers=dep.admin).json()["job_id"]

        def running() -> bool:
            job = httpx.get(f"{dep.base}/admin/jobs/{job_id}", headers=dep.admin).json()
            return job["status"] == "running"

        _wait(running, 120)
        time.sleep(1.5)
        dep.worker.send_signal(signal.SIGKILL)
        dep.worker.wait(timeout=30)
        job = httpx.get(f"{dep.base}/admin/jobs/{job_id}", headers=dep.admin).json()
        assert job["status"] == "running"  # killed mid-way
        ready = _ready(dep.base)
        assert ready["models"] == ready_before["models"]
        assert ready["embedding_index"] == ready_before["embedding_index"]
        dep.start_worker()

        def interrupted() -> bool:
            job = httpx.get(f"{dep.base}/admin/jobs/{job_id}", headers=dep.admin).json()
            return job["status"] == "failed" and "interrupted" in (job["error"] or "")

        _wait(interrupted, 120)
    assert not load.failures, load.failures[:10]
    data = Path(dep.env["DATA_DIR"])
    leftovers = [p for p in data.rglob(".tmp-*")]
    assert not leftovers, leftovers
    # The restarted worker does the job for real.
    again = httpx.post(f"{dep.base}{endpoint}", headers=dep.admin)
    assert again.status_code == 202
    _wait_jobs_done(dep, timeout=300)
    job = httpx.get(f"{dep.base}/admin/jobs/{again.json()['job_id']}", headers=dep.admin).json()
    assert job["status"] == "succeeded", job
    assert _ready(dep.base)
