"""The recommendations endpoint through the cache: same bytes as uncached, invalidated by ratings,
counted in /metrics; against the in-process LRU, a directory shared by the workers of one
machine and, when TEST_REDIS_URL is set, Redis."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient

from backend.api.presenters import served_recommendations_json
from backend.config import get_settings
from backend.database import SessionLocal
from backend.main import create_app
from backend.models import User
from backend.services import recommendations as recommendation_service
from backend.services.cache import make_cache
from backend.services.impressions import REQUEST_ID_PLACEHOLDER
from tests.helpers import register_and_login

BACKENDS = ["local", "directory"] + (["redis"] if os.environ.get("TEST_REDIS_URL") else [])


@pytest.fixture(params=BACKENDS)
def cached_client(request, loaded, tmp_path):
    redis_url = os.environ["TEST_REDIS_URL"] if request.param == "redis" else ""
    directory = tmp_path / "cache" if request.param == "directory" else None
    settings = get_settings().model_copy(
        update={"redis_url": redis_url, "recommendation_cache_dir": directory}
    )
    with TestClient(create_app(settings, runtime=loaded)) as client:
        cache = client.app.state.serving.cache
        cache.clear()
        yield client, cache
        cache.clear()


def _body(reply) -> bytes:
    """The response body with its own request id (unique per response) put back to the
    placeholder the cached body holds."""
    request_id = reply.headers["X-Request-ID"].encode()
    return reply.content.replace(request_id, REQUEST_ID_PLACEHOLDER.encode())


def _without_request_ids(items: list[dict]) -> list[dict]:
    return [{k: v for k, v in item.items() if k != "request_id"} for item in items]


def _rate_some(client, headers, movie_ids=(1, 2, 3, 6)):
    for movie_id in movie_ids:
        reply = client.put(f"/movies/{movie_id}/rating", json={"rating": 5}, headers=headers)
        assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("use_embeddings", ["true", "false"])
def test_cached_answer_is_byte_for_byte_the_uncached_one(cached_client, loaded, use_embeddings):
    client, cache = cached_client
    headers = register_and_login(client, "cachey")
    _rate_some(client, headers)
    url = f"/movies/recommendations?limit=7&use_embeddings={use_embeddings}"
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    hits = cache.hits
    second = client.get(url, headers=headers)
    assert cache.hits == hits + 1
    assert _body(second) == _body(first)
    with SessionLocal() as db:
        caller = db.query(User).filter_by(username="cachey").one()
        method = "hybrid" if use_embeddings == "true" else "hybrid_no_embeddings"
        request = recommendation_service.ListRequest(caller, None, 7, method)
        recs = recommendation_service.for_user(db, loaded, request)
        assert served_recommendations_json(recs) == _body(second)
    assert [m["id"] for m in second.json()] == [r.movie.id for r in recs]


def test_a_new_rating_or_delete_is_never_answered_from_the_cache(cached_client):
    client, cache = cached_client
    headers = register_and_login(client, "rater")
    _rate_some(client, headers)
    url = "/movies/recommendations?limit=10&use_embeddings=false"
    before = client.get(url, headers=headers).json()
    top = before[0]["id"]
    misses = cache.misses
    client.put(f"/movies/{top}/rating", json={"rating": 1}, headers=headers)
    after = client.get(url, headers=headers).json()
    assert cache.misses == misses + 1
    assert top not in [m["id"] for m in after]
    client.delete(f"/movies/{top}/rating", headers=headers)
    again = client.get(url, headers=headers).json()
    assert cache.misses == misses + 2
    assert _without_request_ids(again) == _without_request_ids(before)


def test_other_users_lists_stay_forbidden_even_when_cached(cached_client):
    client, _ = cached_client
    owner = register_and_login(client, "owner")
    _rate_some(client, owner)
    assert client.get("/movies/recommendations", headers=owner).status_code == 200
    with SessionLocal() as db:
        owner_id = db.query(User).filter_by(username="owner").one().id
    other = register_and_login(client, "nosy")
    reply = client.get(f"/movies/recommendations?user_id={owner_id}", headers=other)
    assert reply.status_code == 403


def test_metrics_count_hits_and_misses(cached_client):
    client, _ = cached_client
    headers = register_and_login(client, "counted")
    _rate_some(client, headers)
    for _ in range(3):
        client.get("/movies/recommendations?use_embeddings=false", headers=headers)
    text = client.get("/metrics").text
    hits = [line for line in text.splitlines() if line.startswith("recommendation_cache_requests")]
    assert any('result="hit"' in line and not line.endswith(" 0.0") for line in hits), hits
    assert any('result="miss"' in line for line in hits), hits


def test_local_caches_of_two_workers_never_serve_a_list_older_than_a_rating(cached_client, loaded):
    """`make run` serves with several uvicorn workers, each with its own in-process cache (in
    front of the directory or Redis they share): a rating written through one worker must
    change the other worker's next list."""
    client, _ = cached_client
    other_worker = make_cache(client.app.state.settings)
    headers = register_and_login(client, "two-workers")
    _rate_some(client, headers)

    def other_workers_list() -> list[int]:
        with SessionLocal() as db:
            caller = db.query(User).filter_by(username="two-workers").one()
            request = recommendation_service.ListRequest(caller, None, 10, "hybrid_no_embeddings")
            body = recommendation_service.for_user_cached(
                db, loaded, other_worker, request, served_recommendations_json
            )
        return [item["id"] for item in json.loads(body)]

    before = other_workers_list()
    assert other_workers_list() == before and other_worker.hits == 1
    top = before[0]
    assert client.put(f"/movies/{top}/rating", json={"rating": 1}, headers=headers).is_success
    assert top not in other_workers_list()


def test_a_revoked_or_disabled_caller_is_refused_even_when_the_list_is_cached(cached_client):
    """The caller's token version and login flag are read on every request (the cached path
    included), so a password change ends old tokens on the very next request."""
    client, cache = cached_client
    backend = type(getattr(cache, "shared", cache)).__name__.lower()
    username = f"revoked-{backend}"  # the password changes: one per backend
    old = register_and_login(client, username, "first-password-1")
    _rate_some(client, old)
    url = "/movies/recommendations?use_embeddings=false"
    assert client.get(url, headers=old).status_code == 200
    hits = cache.hits
    assert client.get(url, headers=old).status_code == 200 and cache.hits == hits + 1
    changed = client.post(
        "/auth/password",
        json={"current_password": "first-password-1", "new_password": "second-password-2"},
        headers=old,
    )
    assert changed.status_code == 200, changed.text
    refused = client.get(url, headers=old)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    new = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert client.get(url, headers=new).status_code == 200
    with SessionLocal() as db:
        db.query(User).filter_by(username=username).update({"can_login": False})
        db.commit()
    assert client.get(url, headers=new).status_code == 401


def test_a_due_model_check_runs_off_the_event_loop(cached_client, loaded, monkeypatch):
    """Cache hits are answered on the event loop; looking for (and loading) a newly published
    model or index must not block it, so the route does that in the thread pool."""
    import asyncio

    client, _ = cached_client
    headers = register_and_login(client, "reloady")
    _rate_some(client, headers)
    on_loop: list[bool] = []
    load_bundle = loaded._load_bundle_if_newer

    def recording_load() -> None:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        load_bundle()

    monkeypatch.setattr(loaded, "_load_bundle_if_newer", recording_load)
    interval = loaded.settings.model_copy(update={"model_reload_check_seconds": 60.0})
    monkeypatch.setattr(loaded, "settings", interval)
    monkeypatch.setattr(loaded, "_last_check", float("-inf"))
    reply = client.get("/movies/recommendations?limit=5", headers=headers)
    assert reply.status_code == 200, reply.text
    assert on_loop == [False]


def test_the_serving_state_is_held_once(cached_client, loaded):
    """The runtime, cache and impression recorder live only in `app.state.serving`: a second
    copy in the app state could be replaced or cleared apart from what requests use."""
    client, cache = cached_client
    state = client.app.state
    assert state.serving.runtime is loaded and state.serving.cache is cache
    assert {"runtime", "recommendation_cache", "impressions"}.isdisjoint(vars(state)["_state"])
