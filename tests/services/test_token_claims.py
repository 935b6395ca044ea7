"""Access tokens: a verified token's claims are remembered, its expiry is checked every time."""

from __future__ import annotations

import time

import pytest
from jose import jwt

from backend import security
from backend.security import ALGORITHM, TokenError, create_access_token, decode_access_token

KEY = "k" * 32


def test_a_remembered_token_still_expires(monkeypatch):
    now = int(time.time())
    token = jwt.encode({"sub": "7", "iat": now, "exp": now + 60, "ver": 3}, KEY, ALGORITHM)
    assert decode_access_token(token, KEY) == security.TokenClaims(7, 3)
    assert decode_access_token(token, KEY) == security.TokenClaims(7, 3)  # remembered
    monkeypatch.setattr(security.time, "time", lambda: now + 61)
    with pytest.raises(TokenError, match="expired"):
        decode_access_token(token, KEY)


def test_a_token_is_remembered_only_under_its_own_key():
    token = create_access_token(5, KEY, 5)
    assert decode_access_token(token, KEY).user_id == 5
    with pytest.raises(TokenError):
        decode_access_token(token, "another-key-" + "x" * 20)
    with pytest.raises(TokenError):
        decode_access_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), KEY)
