"""The job queue: admin requests are recorded (202 with an id, 409 for a duplicate kind) and
only the worker runs them, one at a time, recording what happened."""

from __future__ import annotations

import pytest

from backend.database import SessionLocal
from backend.jobs import queue, tasks
from backend.jobs.locks import exclusive
from backend.jobs.worker import JobWorker
from backend.models import Job
from backend.services.users import create_user
from tests.helpers import register_and_login


@pytest.fixture
def admin_headers(client):
    with SessionLocal() as db:
        db.query(Job).delete()
        db.commit()
        try:
            create_user(db, "jobadmin", "jobadmin@example.com", "admin-password-1", is_admin=True)
        except Exception:  # noqa: BLE001 - created by an earlier test of this module
            db.rollback()
    token = client.post(
        "/auth/login", data={"username": "jobadmin", "password": "admin-password-1"}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_requests_are_queued_once_per_kind_and_run_by_the_worker(client, admin_headers, loaded):
    before = loaded.bundle.version
    first = client.post("/admin/models/svd/retrain", headers=admin_headers)
    assert first.status_code == 202, first.text
    job_id = first.json()["job_id"]
    assert first.json()["status"] == "queued"
    again = client.post("/admin/models/svd/retrain", headers=admin_headers)
    assert again.status_code == 409
    assert f"job {job_id}" in again.json()["detail"]
    rebuild = client.post("/admin/embeddings/rebuild", headers=admin_headers)
    assert rebuild.status_code == 202
    # The API process only recorded the requests: nothing was trained in it.
    assert loaded.bundle.version == before
    listed = client.get("/admin/jobs", headers=admin_headers).json()
    assert [j["kind"] for j in listed] == ["rebuild_index", "retrain"]
    assert all(j["status"] == "queued" and j["requested_by"] == "jobadmin" for j in listed)

    worker = JobWorker(loaded)
    assert worker.run_next() is True
    done = client.get(f"/admin/jobs/{job_id}", headers=admin_headers).json()
    assert done["status"] == "succeeded", done
    assert done["result"].startswith("models ") and done["started_at"] and done["finished_at"]
    assert loaded.bundle.version != before
    assert worker.run_next() is True
    assert worker.run_next() is False
    statuses = {
        j["kind"]: j["status"] for j in client.get("/admin/jobs", headers=admin_headers).json()
    }
    assert statuses == {"retrain": "succeeded", "rebuild_index": "succeeded"}
    # Finished: the same kind can be requested again.
    assert client.post("/admin/models/svd/retrain", headers=admin_headers).status_code == 202


def test_job_endpoints_need_an_admin_and_an_existing_job(client, admin_headers):
    user = register_and_login(client, "plainuser", "plain-password-1")
    assert client.post("/admin/models/svd/retrain", headers=user).status_code == 403
    assert client.get("/admin/jobs", headers=user).status_code == 403
    missing = client.get("/admin/jobs/987654", headers=admin_headers)
    assert missing.status_code == 404 and "987654" in missing.json()["detail"]
    assert client.get("/admin/jobs?status=bogus", headers=admin_headers).status_code == 422


def test_a_failing_job_is_recorded_and_the_worker_carries_on(
    client, admin_headers, loaded, monkeypatch
):
    def broken(runtime, db):  # noqa: ANN001, ANN202
        raise ValueError("there are no ratings to train on")

    monkeypatch.setitem(tasks.HANDLERS, queue.RETRAIN, broken)
    job_id = client.post("/admin/models/svd/retrain", headers=admin_headers).json()["job_id"]
    assert JobWorker(loaded).run_next() is True
    job = client.get(f"/admin/jobs/{job_id}", headers=admin_headers).json()
    assert job["status"] == "failed" and "no ratings" in job["error"]


def test_jobs_left_running_by_a_dead_worker_are_failed_not_blocking(client, admin_headers, loaded):
    with SessionLocal() as db:
        stale = queue.enqueue(db, queue.RETRAIN, "test")
        stale.status = "running"
        db.commit()
        stale_id = stale.id
    # While it looks running, a new request is refused...
    assert client.post("/admin/models/svd/retrain", headers=admin_headers).status_code == 409
    # ...until a worker takes the job lock: nobody can be running it, so it was interrupted.
    assert JobWorker(loaded).run_next() is False
    job = client.get(f"/admin/jobs/{stale_id}", headers=admin_headers).json()
    assert job["status"] == "failed" and "interrupted" in job["error"]
    assert client.post("/admin/models/svd/retrain", headers=admin_headers).status_code == 202


def test_worker_waits_while_another_process_holds_the_job_lock(client, admin_headers, loaded):
    job_id = client.post("/admin/embeddings/rebuild", headers=admin_headers).json()["job_id"]
    engine = SessionLocal.kw["bind"]
    with exclusive(engine, loaded.settings.locks_dir):
        assert JobWorker(loaded).run_next() is False
    assert client.get(f"/admin/jobs/{job_id}", headers=admin_headers).json()["status"] == "queued"
    assert JobWorker(loaded).run_next() is True
