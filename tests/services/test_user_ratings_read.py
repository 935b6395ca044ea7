"""The per-user ratings read every cache miss makes: the order rated (ties by id), plain arrays,
and on SQLite an index-only read (the covering index from migration 0006)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from backend.models import Movie, Rating, User
from backend.services.model_data import _USER_RATINGS, user_ratings


def test_a_users_ratings_come_in_the_order_rated(db):
    db.add_all([Movie(id=i, title=f"M{i}") for i in (1, 2, 3, 4)])
    user = User(username="reader", email="r@example.com", hashed_password="x")
    other = User(username="other", email="o@example.com", hashed_password="x")
    db.add_all([user, other])
    db.flush()
    late, early = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    db.add_all([
        Rating(id=10, user_id=user.id, movie_id=3, rating=4.5, timestamp=late),
        Rating(id=11, user_id=user.id, movie_id=1, rating=2.0, timestamp=early),
        Rating(id=12, user_id=other.id, movie_id=2, rating=5.0, timestamp=early),
        Rating(id=13, user_id=user.id, movie_id=4, rating=3.0, timestamp=late),  # tie: by id
    ])  # fmt: skip
    db.flush()
    movie_ids, stars = user_ratings(db, user.id)
    assert movie_ids.dtype == np.int64 and stars.dtype == np.float64
    assert movie_ids.tolist() == [1, 3, 4] and stars.tolist() == [2.0, 4.5, 3.0]
    empty_ids, empty_stars = user_ratings(db, 987654)
    assert empty_ids.size == 0 and empty_stars.size == 0


def test_the_read_is_index_only_on_sqlite(db):
    if db.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL plans by its statistics; the index is the same
    sql = str(_USER_RATINGS.compile(db.get_bind()))  # one "?" for the user id
    plan = db.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, (1,)).all()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "COVERING INDEX ix_ratings_user_history" in detail, detail
    assert "TEMP B-TREE" not in detail, detail  # the index gives the order; no sort
