"""Index jobs: locking across processes, background swap while serving, cache recovery, and
two uvicorn workers sharing one database and DATA_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from backend.database import SessionLocal
from backend.devserver import cli_process, start_cli
from backend.jobs.locks import JobBusy, exclusive, job_lock
from backend.jobs.tasks import rebuild_index_job
from backend.ml.recommender import MovieRecommender
from backend.services.recommender_runtime import RecommenderRuntime
from tests.helpers import free_port, serving_in_background, write_catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_job_lock_is_exclusive(tmp_path):
    with job_lock(tmp_path), pytest.raises(JobBusy), job_lock(tmp_path):
        pass
    with job_lock(tmp_path):
        pass


def test_rebuild_skips_while_another_holds_the_lock(loaded):
    # The deployment's lock: advisory on PostgreSQL, the file lock on SQLite.
    with exclusive(SessionLocal.kw["bind"], loaded.settings.locks_dir):
        assert rebuild_index_job(loaded) is None
    assert rebuild_index_job(loaded) is not None


def test_background_build_swaps_in_while_serving(loaded, settings, tmp_path):
    fresh = RecommenderRuntime(settings.model_copy(update={"data_dir": tmp_path}))
    fresh.bundle = loaded.bundle
    with serving_in_background(fresh, user_id=2, limit=5, pause=0.01) as served:
        assert rebuild_index_job(fresh) is not None
        time.sleep(0.2)
    assert not served.errors, served.errors[:3]
    seen_fallback = [recs[0].fallback for recs in served.lists]
    assert seen_fallback[0] is True  # before the index existed: marked baseline fallback
    assert seen_fallback[-1] is False  # afterwards: the content blend, with no restart
    with SessionLocal() as db:
        assert MovieRecommender(db, fresh).recommend(2, 5, "hybrid")[0].fallback is False


def test_corrupt_index_is_detected_and_rebuilt(loaded, settings, tmp_path):
    runtime = RecommenderRuntime(settings.model_copy(update={"data_dir": tmp_path}))
    assert rebuild_index_job(runtime) is not None
    version_dir = runtime.settings.embeddings_dir / runtime.index_store.current_version()
    (version_dir / "text.npy").write_bytes(b"garbage")
    again = RecommenderRuntime(runtime.settings)
    assert again.index_store.load() is None
    again.load_from_disk()
    assert again.index is None
    with SessionLocal() as db:
        report = again.build_index(db)
    assert report.stats.encoded_text == report.total_movies  # full re-encode
    assert again.index_store.load() is not None


def test_parallel_cli_builds_are_serialised(loaded, tmp_path):
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    procs = [
        cli_process(["build-index"], env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-300:] for o in outputs]
    summaries = [out.strip().splitlines()[-1] for out, _ in outputs]  # "index V: N texts ..."
    encoded = sorted(int(line.split(": ")[1].split()[0]) for line in summaries)
    # One process encoded everything; the other waited for the lock and then reused it all.
    assert encoded[0] == 0 and encoded[1] > 0
    versions = [
        p for p in (tmp_path / "embeddings").iterdir() if not p.name.startswith(".") and p.is_dir()
    ]
    assert len(versions) == 1


def test_two_workers_share_one_build_and_pick_up_new_versions(tmp_path):
    catalogue = write_catalogue(tmp_path / "cat", n_movies=40, n_users=25, seed=3)
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL",)}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/workers.db",
            "DATA_DIR": str(tmp_path / "data"),
            "SCHEDULER_ENABLED": "true",
            "TRAIN_ON_STARTUP": "true",
            "WEB_CONCURRENCY": "2",
            "BUILD_INDEX_ON_STARTUP": "true",
            "MODEL_RELOAD_CHECK_SECONDS": "0.5",
            "LOG_LEVEL": "INFO",
        }
    )
    run = [sys.executable, "-m", "backend.cli"]
    for args in (
        ["migrate"],
        ["import-movielens", str(catalogue)],
        ["create-admin", "ops", "--email", "ops@example.com", "--password", "ops-password-1"],
    ):
        subprocess.run(run + args, env=env, cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    log_path = tmp_path / "server.log"
    # What `make run` starts: the API with 2 workers and the job worker.
    server = start_cli("run", env, log_path, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            token = None
            deadline = time.monotonic() + 240
            versions: dict[int, tuple[str, str]] = {}
            while time.monotonic() < deadline:
                try:
                    if token is None:
                        r = client.post(
                            "/auth/login", data={"username": "ops", "password": "ops-password-1"}
                        )
                        token = r.json()["access_token"] if r.status_code == 200 else None
                    ready = client.get("/ready", headers={"Connection": "close"})
                except httpx.TransportError:
                    time.sleep(0.5)
                    continue
                checks = ready.json()["checks"]
                if ready.status_code == 200 and checks["embedding_index"] != "not built":
                    versions[checks["worker_pid"]] = (checks["models"], checks["embedding_index"])
                if len(versions) == 2 and len(set(versions.values())) == 1:
                    status = client.get(
                        "/embeddings/status", headers={"Authorization": f"Bearer {token}"}
                    ).json()
                    if (
                        not status["training"]
                        and status["model_version"] == list(versions.values())[0][0]
                    ):
                        break
                time.sleep(0.3)
            assert len(versions) == 2, f"saw workers {versions}"
            index_versions = [
                p
                for p in (tmp_path / "data" / "embeddings").iterdir()
                if p.is_dir() and not p.name.startswith(".")
            ]
            assert len(index_versions) == 1
            time.sleep(2)
            log_text = log_path.read_text()
            assert log_text.count("Built embedding index") == 1, log_text[-3000:]

            before = {v[0] for v in versions.values()}
            headers = {"Authorization": f"Bearer {token}"}
            queued = client.post("/admin/models/svd/retrain", headers=headers)
            assert queued.status_code == 202, queued.text
            seen: dict[int, str] = {}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (
                len(seen) < 2 or any(v in before for v in seen.values())
            ):
                ready = client.get("/ready", headers={"Connection": "close"}).json()["checks"]
                seen[ready["worker_pid"]] = ready["models"]
                time.sleep(0.2)
            assert len(seen) == 2 and not set(seen.values()) & before, seen
            assert len(set(seen.values())) == 1
    finally:
        server.stop()
