"""Two API processes on one database and one Redis: a rating sent to one changes the other's next
list, and an answer computed by one is served from the shared cache by the other."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from backend.devserver import run_cli, start_server
from tests.helpers import server_env

REDIS_URL = os.environ.get("TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set (CI starts Redis)")
PASSWORD = "shared-state-pw-1"


def _cache_hits(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    match = re.search(r'^recommendation_cache_requests_total\{result="hit"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


@pytest.fixture
def two_servers(committed_db, catalogue_dir, tmp_path):
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()
    env = server_env(
        tmp_path,
        os.environ["DATABASE_URL"],
        redis_url=REDIS_URL,
        train_on_startup="false",
        build_index_on_startup="false",
        svd_n_factors="20",
        svd_n_epochs="15",
        model_reload_check_seconds="0",
    )
    run_cli(["import-movielens", str(catalogue_dir)], env)
    run_cli(["train"], env)
    servers = [start_server(env, tmp_path / f"server-{n}.log") for n in range(2)]
    try:
        for server in servers:
            server.wait("/ready")
        yield servers
    finally:
        for server in servers:
            server.stop()
        Redis.from_url(REDIS_URL).flushdb()


def test_rating_through_one_process_changes_the_others_next_list(two_servers):
    one, two = (httpx.Client(base_url=s.base_url, timeout=30) for s in two_servers)
    reply = one.post(
        "/auth/register",
        json={"username": "shared", "email": "shared@example.com", "password": PASSWORD},
    )
    assert reply.status_code == 201, reply.text
    token = two.post("/auth/login", data={"username": "shared", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for movie_id in (1, 2, 6, 11):
        assert one.put(f"/movies/{movie_id}/rating", json={"rating": 5}, headers=headers).is_success
    url = "/movies/recommendations?limit=10&use_embeddings=false"

    first = two.get(url, headers=headers)
    assert first.status_code == 200, first.text
    hits = _cache_hits(one.base_url)
    second = one.get(url, headers=headers)
    # The same body but for the request id, which is new on every response.
    request_ids = (second.headers["X-Request-ID"].encode(), first.headers["X-Request-ID"].encode())
    assert second.content.replace(*request_ids) == first.content
    assert _cache_hits(one.base_url) == hits + 1  # computed by two, served to one from Redis

    top = first.json()[0]["id"]
    assert one.put(f"/movies/{top}/rating", json={"rating": 1}, headers=headers).is_success
    after = two.get(url, headers=headers).json()
    assert top not in [movie["id"] for movie in after]
    assert [m["id"] for m in after] != [m["id"] for m in first.json()]
