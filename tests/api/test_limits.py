"""Abuse limits in-process: login throttling that cannot be turned on a victim and is shared by
workers, sign-up limits, request body size, security headers, and ratings under concurrency."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.observability import REGISTRY
from backend.server.limits import EdgeMiddleware
from backend.services.rate_limit import RedisRateLimiter
from tests.helpers import register_and_login


def _app(settings, runtime, **overrides):  # noqa: ANN001, ANN202
    return create_app(settings.model_copy(update=overrides), runtime=runtime)


def _login(client: TestClient, username: str, password: str) -> int:
    return client.post("/auth/login", data={"username": username, "password": password}).status_code


def test_guesses_from_elsewhere_never_lock_the_owner_out(client, settings, loaded):
    register_and_login(client, "victim", "victim-password-1")
    app = _app(settings, loaded, login_max_failures=5)
    attacker = TestClient(app, client=("198.51.100.7", 4000))
    owner = TestClient(app, client=("203.0.113.20", 4000))
    statuses = [_login(attacker, "victim", "guess-guess-1") for _ in range(7)]
    assert statuses[:4] == [401] * 4 and statuses[-1] == 429
    assert _login(owner, "victim", "victim-password-1") == 200


def test_failures_are_counted_across_workers_and_per_address(client, settings, loaded):
    register_and_login(client, "wendy", "wendy-password-1")
    # Two app instances stand for two uvicorn workers: they share one counter.
    workers = [
        TestClient(_app(settings, loaded, login_address_max_failures=8), client=("192.0.2.9", 1))
        for _ in range(2)
    ]
    statuses = [_login(workers[i % 2], "wendy", "wrong-wrong-1") for i in range(6)]
    assert statuses[:4] == [401] * 4 and statuses[5] == 429
    # The per-address budget covers every username tried from that address.
    spray = [_login(workers[0], f"name{i}", "wrong-wrong-1") for i in range(4)]
    assert spray[-1] == 429


def test_registration_is_rate_limited_per_address(settings, loaded):
    app = _app(settings, loaded, registrations_per_address=3)
    spammer = TestClient(app, client=("198.51.100.99", 5000))
    codes = [
        spammer.post(
            "/auth/register",
            json={"username": f"spam{i}", "email": f"spam{i}@example.com", "password": "x" * 12},
        ).status_code
        for i in range(4)
    ]
    assert codes == [201, 201, 201, 429]
    other = TestClient(app, client=("198.51.100.100", 5000))
    assert (
        other.post(
            "/auth/register",
            json={"username": "legit", "email": "legit@example.com", "password": "x" * 12},
        ).status_code
        == 201
    )


def test_large_bodies_get_413_before_being_read(settings, loaded):
    app = _app(settings, loaded, max_body_bytes=1000)
    client = TestClient(app)
    big = client.post(
        "/auth/register", content=b"x" * 5000, headers={"Content-Type": "application/json"}
    )
    assert big.status_code == 413 and "1000 bytes" in big.json()["detail"]

    def chunks():  # noqa: ANN202 - no Content-Length: chunked transfer
        for _ in range(50):
            yield b"y" * 100

    streamed = client.post("/auth/register", content=chunks())
    assert streamed.status_code == 413
    small = client.post("/auth/register", json={"username": "a"})
    assert small.status_code == 422


def test_security_headers_on_every_response(client):
    for path in ("/", "/health", "/movies", "/docs", "/nope"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp


def test_concurrent_put_and_delete_of_one_rating_never_5xx(client):
    headers = register_and_login(client, "racer", "racer-password-1")
    codes: list[int] = []
    lock = threading.Lock()

    def hammer(n: int) -> None:
        for i in range(15):
            if (n + i) % 2:
                r = client.put("/movies/7/rating", json={"rating": 3.5}, headers=headers)
            else:
                r = client.delete("/movies/7/rating", headers=headers)
            with lock:
                codes.append(r.status_code)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(codes) == 300
    assert set(codes) <= {200, 204, 404}, sorted(set(codes))
    assert 200 in codes


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="TEST_REDIS_URL not set")
def test_redis_limiter_blocks_and_resets():
    limiter = RedisRateLimiter(os.environ["TEST_REDIS_URL"], prefix=f"test:{os.getpid()}:")
    for _ in range(3):
        assert limiter.blocked_for("k") == 0
        limiter.hit("k", limit=3, window_seconds=60, block_seconds=30)
    assert 25 <= limiter.blocked_for("k", "other") <= 30
    limiter.reset("k")
    assert limiter.blocked_for("k") == 0


def test_api_docs_are_served_from_this_host(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "<script>" not in page.text
    for asset in (
        "/docs-assets/swagger-ui-bundle.js",
        "/docs-assets/swagger-ui.css",
        "/docs-init.js",
    ):
        assert client.get(asset).status_code == 200, asset
        assert asset in page.text
    assert "/openapi.json" in client.get("/docs-init.js").text


def test_refused_bodies_carry_security_headers_and_are_timed(settings, loaded):
    client = TestClient(_app(settings, loaded, max_body_bytes=100))
    refused = client.post("/auth/register", content=b"x" * 500)
    assert refused.status_code == 413
    assert refused.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
    metrics = client.get("/metrics").text
    assert 'http_request_duration_seconds_count{method="POST",route="unmatched",status="413"}' in (
        metrics
    )


def test_a_response_keeps_the_security_headers_it_sets():
    async def inner(scope, receive, send):  # noqa: ANN001, ANN202
        headers = [(b"content-security-policy", b"default-src 'none'"), (b"x-frame-options", b"X")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    reply = TestClient(EdgeMiddleware(inner, max_bytes=100)).get("/anything")
    assert reply.headers.get_list("content-security-policy") == ["default-src 'none'"]
    assert reply.headers.get_list("x-frame-options") == ["X"]
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"


def test_a_declared_length_that_is_not_a_number_is_400():
    async def never_called(scope, receive, send):  # noqa: ANN001, ANN202
        raise AssertionError("the app must not see the request")

    edge = EdgeMiddleware(never_called, max_bytes=100)
    reply = TestClient(edge).post("/x", content=b"{}", headers={"Content-Length": "2x"})
    assert reply.status_code == 400 and reply.json()["detail"] == "Invalid Content-Length header"


def test_each_status_of_a_route_is_timed_under_its_own_labels():
    async def answer(scope, receive, send):  # noqa: ANN001, ANN202
        scope["route"] = SimpleNamespace(path="/timed-by-status")
        status = int(scope["query_string"])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def count(status: int) -> float:
        labels = {"method": "POST", "route": "/timed-by-status", "status": str(status)}
        return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0

    client = TestClient(EdgeMiddleware(answer, max_bytes=100))
    for status in (413, 201, 201):
        assert client.post(f"/x?{status}").status_code == status
    assert (count(413), count(201)) == (1, 2)
