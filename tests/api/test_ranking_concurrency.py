"""Cache misses rank at most RANKING_CONCURRENCY at once per API process: more threads only
take turns on the GIL (uncached HTTP P95 about halved with 2, docs/performance.md)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from backend.config import get_settings
from backend.main import create_app
from backend.services import recommendations as recommendation_service
from tests.helpers import register_and_login


@pytest.mark.parametrize("slots", [1, 3])
def test_misses_rank_at_most_the_configured_number_at_once(loaded, monkeypatch, slots: int):
    settings = get_settings().model_copy(
        update={"ranking_concurrency": slots, "recommendation_cache": False}
    )
    original = recommendation_service.compute_answer
    lock, running, most = threading.Lock(), [0], [0]

    def slow_compute(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(recommendation_service, "compute_answer", slow_compute)
    with TestClient(create_app(settings, runtime=loaded)) as client:
        headers = register_and_login(client, f"concurrent-{slots}")
        with ThreadPoolExecutor(6) as pool:
            replies = list(
                pool.map(
                    lambda _: client.get("/movies/recommendations?limit=5", headers=headers),
                    range(6),
                )
            )
    assert all(reply.status_code == 200 for reply in replies)
    assert most[0] == slots  # never more, and the slots are used
