"""Password hashing (argon2 via passlib) and JWT access tokens (python-jose, HS256 pinned)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jose import ExpiredSignatureError, JWTError, jwt
from passlib.context import CryptContext

ALGORITHM = "HS256"
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


def create_access_token(subject: str | int, secret_key: str, expires_minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(subject), "iat": now, "exp": now + timedelta(minutes=expires_minutes)}
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


def decode_access_token(token: str, secret_key: str) -> str:
    """Return the subject; the algorithm is pinned so `alg: none` or RS/HS confusion is refused."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            options={"require_exp": True, "require_sub": True},
        )
    except ExpiredSignatureError as exc:
        raise TokenError("Token has expired") from exc
    except JWTError as exc:
        raise TokenError("Could not validate credentials") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise TokenError("Could not validate credentials")
    return subject
