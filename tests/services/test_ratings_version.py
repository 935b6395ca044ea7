"""The per-user ratings version that keys the recommendation cache: it moves in the same
transaction as every write of the user's ratings, and the next list's cache key moves with it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.models import Movie, User
from backend.services.errors import NotFoundError
from backend.services.importer import import_movielens
from backend.services.ratings import delete_rating, upsert_rating
from backend.services.users import find_account, require_account
from tests.helpers import write_catalogue


@pytest.fixture
def rater(db) -> User:
    db.add_all([Movie(id=1, title="One"), Movie(id=2, title="Two")])
    user = User(username="versioned", email="v@example.com", hashed_password="x")
    db.add(user)
    db.commit()
    return user


def _version(db, user_id: int) -> int:
    return require_account(db, user_id).ratings_version


def test_every_rating_write_moves_the_version(db, rater):
    assert _version(db, rater.id) == 0
    upsert_rating(db, rater.id, 1, 4.0)
    upsert_rating(db, rater.id, 1, 2.0)  # an update moves it too
    upsert_rating(db, rater.id, 2, 5.0)
    assert _version(db, rater.id) == 3
    delete_rating(db, rater.id, 2)
    assert _version(db, rater.id) == 4


def test_a_failed_write_leaves_the_version(db, rater):
    with pytest.raises(NotFoundError):
        delete_rating(db, rater.id, 2)  # never rated
    with pytest.raises(NotFoundError):
        upsert_rating(db, rater.id, 999, 3.0)  # no such movie
    assert _version(db, rater.id) == 0


def test_account_row_carries_what_the_request_path_needs(db, rater):
    account = find_account(db, rater.id)
    assert (account.id, account.is_admin, account.can_login) == (rater.id, False, True)
    assert (account.token_version, account.ratings_version) == (0, 0)
    assert find_account(db, rater.id + 1000) is None
    with pytest.raises(NotFoundError):
        require_account(db, rater.id + 1000)


def test_an_import_moves_the_versions_of_the_users_it_gave_ratings(db, tmp_path):
    import_movielens(db, write_catalogue(tmp_path / "cat", n_movies=12, n_users=6, seed=3))
    versions = db.scalars(select(User.ratings_version).where(User.movielens_user_id.is_not(None)))
    assert set(versions) == {1}
