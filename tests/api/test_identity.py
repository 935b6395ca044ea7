"""Identity: revocable tokens (password change, deletion), ids never reused, strict claims,
passwords that can be typed back, and `create-admin` that never silently resets a password."""

from __future__ import annotations

import time

from jose import jwt

from backend.cli import main as cli_main
from backend.database import SessionLocal
from backend.models import Rating, User
from tests.helpers import register_and_login


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_password_change_ends_old_tokens(client):
    old = register_and_login(client, "paula", "first-password-1")
    changed = client.post(
        "/auth/password",
        json={"current_password": "first-password-1", "new_password": "second-password-2"},
        headers=old,
    )
    assert changed.status_code == 200, changed.text
    revoked = client.get("/auth/me", headers=old)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    assert (
        client.get("/auth/me", headers=_bearer(changed.json()["access_token"])).status_code == 200
    )
    login = client.post("/auth/login", data={"username": "paula", "password": "first-password-1"})
    assert login.status_code == 401
    wrong = client.post(
        "/auth/password",
        json={"current_password": "nope-nope-1", "new_password": "third-password-3"},
        headers=_bearer(changed.json()["access_token"]),
    )
    assert wrong.status_code == 403


def test_deleted_account_is_gone_and_its_id_never_reused(client):
    headers = register_and_login(client, "quentin", "quentin-password-1")
    me = client.get("/auth/me", headers=headers).json()
    assert client.put("/movies/3/rating", json={"rating": 4}, headers=headers).status_code == 200
    assert client.delete("/users/me", headers=headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401
    with SessionLocal() as db:
        assert db.get(User, me["id"]) is None
        assert db.query(Rating).filter(Rating.user_id == me["id"]).count() == 0
    newcomer = register_and_login(client, "rita", "rita-password-1")
    assert client.get("/auth/me", headers=newcomer).json()["id"] > me["id"]
    # The deleted user's token does not become the newcomer's.
    assert client.get("/auth/me", headers=headers).status_code == 401


def test_malformed_claims_are_401_never_500(client, settings):
    headers = register_and_login(client, "sam", "sam-password-12")
    user_id = client.get("/auth/me", headers=headers).json()["id"]
    now = int(time.time())
    base = {"sub": str(user_id), "iat": now, "exp": now + 600, "ver": 0}
    for claims in (
        {**base, "sub": "\u0661\u0662"},  # Arabic-Indic digits: isdigit() but not an id
        {**base, "sub": "99999999999999999999999"},
        {**base, "sub": "0"},
        {**base, "sub": "-1"},
        {**base, "exp": str(now + 600)},
        {**base, "iat": now + 3600},
        {**base, "iat": "yesterday"},
        {k: v for k, v in base.items() if k != "iat"},
        {**base, "ver": "0"},
    ):
        token = jwt.encode(claims, settings.secret_key, algorithm="HS256")
        r = client.get("/auth/me", headers=_bearer(token))
        assert r.status_code == 401, (claims, r.status_code, r.text)
    good = jwt.encode(base, settings.secret_key, algorithm="HS256")
    assert client.get("/auth/me", headers=_bearer(good)).status_code == 200


def test_passwords_with_control_characters_are_refused(client):
    for password in ("nul\x00inside-pass", "tab\tinside-pass", "bell\x07inside-pass"):
        r = client.post(
            "/auth/register",
            json={"username": "tina", "email": "tina@example.com", "password": password},
        )
        assert r.status_code == 422 and "control characters" in r.json()["detail"], r.text


def test_create_admin_refuses_an_existing_name_without_reset(client, capsys):
    register_and_login(client, "uma", "uma-password-1")
    assert cli_main(["create-admin", "uma", "--password", "taken-over-1"]) == 1
    assert "--reset-password" in capsys.readouterr().err
    login = client.post("/auth/login", data={"username": "uma", "password": "uma-password-1"})
    assert login.status_code == 200
    assert (
        cli_main(["create-admin", "uma", "--password", "new-admin-pass-1", "--reset-password"]) == 0
    )
    old_token = _bearer(login.json()["access_token"])
    assert client.get("/auth/me", headers=old_token).status_code == 401
    new = client.post("/auth/login", data={"username": "uma", "password": "new-admin-pass-1"})
    assert client.get("/auth/me", headers=_bearer(new.json()["access_token"])).json()["is_admin"]
