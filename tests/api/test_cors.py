"""A frontend on another origin may call the API with a bearer token (preflight included)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.main import create_app
from tests.helpers import register_and_login

ORIGIN = "http://frontend.example:3000"


def test_cors_preflight_and_bearer_request(loaded, settings):
    app = create_app(settings.model_copy(update={"cors_origins": [ORIGIN]}), runtime=loaded)
    with TestClient(app) as client:
        preflight = client.options(
            "/movies/recommendations",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        headers = register_and_login(client, "cora")
        r = client.get("/movies/recommendations?limit=3", headers={**headers, "Origin": ORIGIN})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == ORIGIN


def test_other_origins_are_not_allowed(loaded, settings):
    app = create_app(settings.model_copy(update={"cors_origins": [ORIGIN]}), runtime=loaded)
    with TestClient(app) as client:
        preflight = client.options(
            "/movies",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers
