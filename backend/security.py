"""Password hashing (argon2 via passlib) and JWT access tokens (python-jose, HS256 pinned)."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from jose import ExpiredSignatureError, JWTError, jwt
from passlib.context import CryptContext

ALGORITHM = "HS256"
MAX_ID = 2**63 - 1
CLOCK_SKEW_SECONDS = 30
_SUBJECT_RE = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)
_pwd_context = CryptContext(schemes=["argon2"], deprecated="auto")


class TokenError(Exception):
    """The token is missing, malformed, expired or signed with another key."""


def hash_password(password: str) -> str:
    return _pwd_context.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    if not hashed:
        return False
    try:
        return _pwd_context.verify(password, hashed)
    except (ValueError, TypeError):
        return False


def create_access_token(
    subject: str | int, secret_key: str, expires_minutes: int, token_version: int = 0
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(subject),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=expires_minutes)).timestamp()),
        "ver": int(token_version),
    }
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    token_version: int


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_access_token(token: str, secret_key: str) -> TokenClaims:
    """Validated claims; the algorithm is pinned so `alg: none` or RS/HS confusion is refused.

    Strict: `sub` is a positive ASCII decimal id that fits a 64-bit column, `exp`, `iat` and
    `ver` are integers, and a token issued in the future is refused. A token that passed is
    remembered (a bounded cache keyed by the token and the key: the signature check is most of
    the cost of an authenticated cache hit); its expiry is checked again on every call.
    """
    claims, expires = _verified(token, secret_key)
    if expires < time.time():
        raise TokenError("Token has expired")
    return claims


@lru_cache(maxsize=4096)
def _verified(token: str, secret_key: str) -> tuple[TokenClaims, int]:
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            options={"require_exp": True, "require_sub": True, "require_iat": True},
        )
    except ExpiredSignatureError as exc:
        raise TokenError("Token has expired") from exc
    except JWTError as exc:
        raise TokenError("Could not validate credentials") from exc
    subject, version = claims.get("sub"), claims.get("ver", 0)
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (isinstance(subject, str) and _SUBJECT_RE.fullmatch(subject)):
        raise TokenError("Could not validate credentials")
    if int(subject) > MAX_ID or not (_is_int(exp) and _is_int(iat) and _is_int(version)):
        raise TokenError("Could not validate credentials")
    if iat > datetime.now(UTC).timestamp() + CLOCK_SKEW_SECONDS:
        raise TokenError("Could not validate credentials")
    return TokenClaims(int(subject), version), exp


def password_problem(password: str) -> str | None:
    """Why a new password is refused (control characters cannot be typed back), or None."""
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        return "password must not contain control characters"
    return None
