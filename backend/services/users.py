from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from backend.models import Rating, User
from backend.security import hash_password, verify_password
from backend.services.errors import ConflictError, ForbiddenError, NotFoundError, commit_or_conflict

# Hash checked when the username is unknown so both paths cost the same (no user enumeration).
_DUMMY_HASH = hash_password("not-a-real-password-0000")


def create_user(
    db: Session, username: str, email: str | None, password: str, *, is_admin: bool = False
) -> User:
    clash = db.scalar(
        select(User).where(
            or_(
                func.lower(User.username) == username.lower(),
                func.lower(User.email) == (email or "").lower(),
            )
        )
    )
    if clash is not None:
        field = "username" if clash.username.lower() == username.lower() else "email"
        raise ConflictError(f"A user with this {field} already exists")
    user = User(
        username=username,
        email=email,
        hashed_password=hash_password(password),
        is_admin=is_admin,
        can_login=True,
    )
    db.add(user)
    commit_or_conflict(db, "A user with this username or email already exists")
    db.refresh(user)
    return user


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = db.scalar(select(User).where(User.username == username))
    if user is None or not user.can_login:
        verify_password(password, _DUMMY_HASH)
        return None
    return user if verify_password(password, user.hashed_password) else None


def get_user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotFoundError(f"User {user_id} not found")
    return user


@dataclass(frozen=True)
class Account:
    """What the recommendations path needs of a users row: one Core select, no ORM object."""

    id: int
    is_admin: bool
    can_login: bool
    token_version: int
    ratings_version: int


_users = User.__table__
# Built once: the statement's construction and cache key cost more than the primary-key read.
_ACCOUNT = select(
    _users.c.id,
    _users.c.is_admin,
    _users.c.can_login,
    _users.c.token_version,
    _users.c.ratings_version,
).where(_users.c.id == bindparam("user_id"))


def find_account(db: Session, user_id: int) -> Account | None:
    row = db.connection().execute(_ACCOUNT, {"user_id": user_id}).first()
    return None if row is None else Account(*row)


def require_account(db: Session, user_id: int) -> Account:
    """The user's account row, or 404."""
    account = find_account(db, user_id)
    if account is None:
        raise NotFoundError(f"User {user_id} not found")
    return account


def change_password(db: Session, user: User, current: str, new: str) -> User:
    """Set a new password and end every token issued before (token version bump)."""
    if not verify_password(current, user.hashed_password):
        raise ForbiddenError("The current password is not correct")
    user.hashed_password = hash_password(new)
    user.token_version += 1
    db.commit()
    return user


def delete_user(db: Session, user: User) -> None:
    """Remove the account and its ratings; its tokens die with it (ids are never reused)."""
    db.execute(delete(Rating).where(Rating.user_id == user.id))
    db.execute(delete(User).where(User.id == user.id))
    db.commit()


def set_admin(
    db: Session,
    username: str,
    email: str | None,
    password: str,
    *,
    reset_password: bool = False,
) -> User:
    """Create an admin; an existing name is refused unless `reset_password` is given, in which
    case that user is promoted, gets the new password and its old tokens end."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        return create_user(db, username, email, password, is_admin=True)
    if not reset_password:
        raise ConflictError(
            f"user {username} already exists; pass --reset-password to promote it and set "
            "its password"
        )
    user.is_admin = True
    user.can_login = True
    user.hashed_password = hash_password(password)
    user.token_version += 1
    if email:
        user.email = email
    db.commit()
    return user
