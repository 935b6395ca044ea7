"""Auth, movies, ratings and error shapes through the HTTP API."""

from __future__ import annotations

import base64
import json
import time

from jose import jwt

from backend.database import SessionLocal
from backend.security import create_access_token
from backend.services.users import set_admin
from tests.helpers import register_and_login


def test_register_login_me(client):
    headers = register_and_login(client, "bob")
    me = client.get("/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["username"] == "bob"
    assert "hashed_password" not in me.json()


def test_duplicate_username_and_email_are_409(client):
    register_and_login(client, "carol")
    again = client.post(
        "/auth/register",
        json={"username": "carol", "email": "x@example.com", "password": "long-enough-1"},
    )
    assert again.status_code == 409 and "username" in again.json()["detail"]
    email = client.post(
        "/auth/register",
        json={"username": "carol2", "email": "carol@example.com", "password": "long-enough-1"},
    )
    assert email.status_code == 409 and "email" in email.json()["detail"]


def test_register_validation_is_422_json(client):
    short = client.post(
        "/auth/register", json={"username": "dan", "email": "d@example.com", "password": "short"}
    )
    assert short.status_code == 422
    assert "password" in short.json()["detail"]
    bad_email = client.post(
        "/auth/register", json={"username": "dan", "email": "nope", "password": "long-enough-1"}
    )
    assert bad_email.status_code == 422
    garbage = client.post(
        "/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status_code == 422


def test_wrong_password_401_then_throttled_429(client):
    register_and_login(client, "erin")
    statuses = [
        client.post("/auth/login", data={"username": "erin", "password": "wrong-pass"}).status_code
        for _ in range(6)
    ]
    assert statuses[0] == 401
    assert 429 in statuses
    blocked = client.post("/auth/login", data={"username": "erin", "password": "wrong-pass"})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    client.app.state.rate_limiter.reset("login:erin|testclient")


def test_imported_movielens_users_cannot_log_in(client):
    response = client.post("/auth/login", data={"username": "movielens_1", "password": "x" * 10})
    assert response.status_code == 401


def test_missing_expired_tampered_tokens_are_401(client, settings):
    assert client.get("/auth/me").status_code == 401
    assert client.get("/auth/me").headers["WWW-Authenticate"] == "Bearer"
    headers = register_and_login(client, "frank")
    user_id = client.get("/auth/me", headers=headers).json()["id"]
    expired = create_access_token(user_id, settings.secret_key, expires_minutes=-1)
    r = client.get("/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"].lower()
    wrong_key = create_access_token(user_id, "another-key", expires_minutes=5)
    assert (
        client.get("/auth/me", headers={"Authorization": f"Bearer {wrong_key}"}).status_code == 401
    )

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"sub": str(user_id), "exp": int(time.time()) + 600}
    none_alg = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert (
        client.get("/auth/me", headers={"Authorization": f"Bearer {none_alg}"}).status_code == 401
    )
    no_exp = jwt.encode({"sub": str(user_id)}, settings.secret_key, algorithm="HS256")
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {no_exp}"}).status_code == 401
    assert client.get("/auth/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_movies_list_search_genre_and_bounds(client):
    headers = register_and_login(client, "gina")
    page = client.get("/movies", params={"limit": 5}, headers=headers).json()
    assert page["total"] == 60 and len(page["items"]) == 5
    toy = client.get("/movies", params={"q": "toy"}, headers=headers).json()
    assert [m["title"] for m in toy["items"]] == ["Toy Adventure"]
    scifi = client.get("/movies", params={"genre": "Sci-Fi", "limit": 100}, headers=headers)
    assert scifi.json()["total"] == 12
    assert all("Sci-Fi" in m["genres"] for m in scifi.json()["items"])
    for bad in ({"limit": 0}, {"limit": 101}, {"skip": -1}, {"sort": "nope"}):
        r = client.get("/movies", params=bad, headers=headers)
        assert r.status_code == 422, bad
        assert isinstance(r.json()["detail"], str)
    assert client.get("/movies/genres", headers=headers).json() == sorted(
        ["Action", "Comedy", "Drama", "Romance", "Sci-Fi"]
    )


def test_movie_detail_and_404(client):
    headers = register_and_login(client, "hank")
    movie = client.get("/movies/1", headers=headers).json()
    assert movie["title"] == "Toy Adventure" and movie["year"] == 1981
    assert 0 <= movie["vote_average"] <= 10 and movie["my_rating"] is None
    assert client.get("/movies/99999", headers=headers).status_code == 404
    assert client.get("/movies/abc", headers=headers).status_code == 422


def test_rating_upsert_delete_and_validation(client):
    headers = register_and_login(client, "ivy")
    assert (
        client.put("/movies/2/rating", json={"rating": 4.5}, headers=headers).json()["rating"]
        == 4.5
    )
    assert (
        client.put("/movies/2/rating", json={"rating": 3.0}, headers=headers).json()["rating"]
        == 3.0
    )
    mine = client.get("/users/me/ratings", headers=headers).json()
    assert [(r["movie"]["id"], r["rating"]) for r in mine] == [(2, 3.0)]
    assert client.get("/movies/2", headers=headers).json()["my_rating"] == 3.0
    for bad in (0, 5.5, 3.3, "x", None):
        assert (
            client.put("/movies/2/rating", json={"rating": bad}, headers=headers).status_code == 422
        ), bad
    assert (
        client.put("/movies/99999/rating", json={"rating": 4}, headers=headers).status_code == 404
    )
    assert client.delete("/movies/2/rating", headers=headers).status_code == 204
    assert client.delete("/movies/2/rating", headers=headers).status_code == 404
    assert client.get("/users/me/ratings", headers=headers).json() == []


def test_poster_placeholder_is_public(client):
    r = client.get("/movies/1/poster")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg")
    assert "max-age" in r.headers["cache-control"]


def test_admin_routes_need_admin(client):
    headers = register_and_login(client, "jack")
    assert client.post("/admin/models/svd/retrain", headers=headers).status_code == 403
    with SessionLocal() as db:
        set_admin(db, "root", "root@example.com", "admin-password-1")
    admin = client.post("/auth/login", data={"username": "root", "password": "admin-password-1"})
    admin_headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    assert client.post("/admin/models/svd/retrain", headers=admin_headers).status_code == 202


def test_health_ready_metrics(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    metrics = client.get("/metrics").text
    assert "http_request_duration_seconds" in metrics
    assert "embedding_index_movies" in metrics


def test_unknown_route_is_json_404(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["detail"]


def test_out_of_range_ids_and_nul_bytes_are_422_not_500(client):
    headers = register_and_login(client, "olga")
    huge = "99999999999999999999"
    for method, path in (
        ("GET", f"/movies/{huge}"),
        ("GET", f"/movies/{huge}/similar"),
        ("GET", f"/movies/{huge}/poster"),
        ("DELETE", f"/movies/{huge}/rating"),
        ("GET", f"/movies/recommendations?user_id={huge}"),
        ("GET", f"/users/me/ratings?skip={huge}"),
        ("GET", "/movies?q=%00"),
        ("GET", "/movies/0"),
    ):
        r = client.request(method, path, headers=headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
    r = client.put(f"/movies/{huge}/rating", json={"rating": 4}, headers=headers)
    assert r.status_code == 422
    r = client.post("/auth/login", data={"username": "olga\x00", "password": "x" * 10})
    assert r.status_code == 422
