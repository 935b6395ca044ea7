"""The API's movies come from an in-memory table of the catalogue, re-read when its version
moves; the rows render exactly as the ORM objects do."""

from __future__ import annotations

from datetime import date

from backend.api.presenters import movie_out
from backend.models import Movie
from backend.services.model_data import movie_rows, movies_by_ids


def test_rows_follow_the_catalogue_version_and_render_like_orm_movies(db):
    db.add_all(
        [
            Movie(id=1, title="One", genres="Drama|Comedy", release_date=date(1999, 1, 2)),
            Movie(id=2, title="Two", genres="(no genres listed)", year=2001, tmdb_id=9),
        ]
    )
    db.commit()
    rows = movie_rows(db, "test-v1", [2, 404, 1])
    assert [r.id for r in rows] == [2, 1]  # in the order asked, unknown ids skipped
    assert [movie_out(r) for r in rows] == [movie_out(m) for m in movies_by_ids(db, [2, 1])]
    db.get(Movie, 1).title = "One, renamed"
    db.commit()
    assert movie_rows(db, "test-v1", [1])[0].title == "One"  # same version: the table kept
    assert movie_rows(db, "test-v2", [1])[0].title == "One, renamed"
