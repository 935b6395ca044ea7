from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.models.base import Base, CreatedAt, IntPK

if TYPE_CHECKING:
    from backend.models.rating import Rating


class User(Base):
    __tablename__ = "users"
    # Ids are never reused on SQLite, so a deleted user's token cannot become another user's.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[IntPK]
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    hashed_password: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    can_login: Mapped[bool] = mapped_column(Boolean, default=True)
    movielens_user_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    created_at: Mapped[CreatedAt]
    # Carried in every access token; bumping it (password change, deletion) ends old tokens.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moves in the same transaction as every write of the user's ratings: it keys the cached
    # recommendations, so a list computed before a rating is never served after it.
    ratings_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    ratings: Mapped[list[Rating]] = relationship(back_populates="user", passive_deletes=True)
