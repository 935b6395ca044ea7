"""Catalogue listing: "highest rated" is a Bayesian average with a minimum number of votes."""

from __future__ import annotations

from backend.models import Movie
from backend.services.movies import list_movies


def test_highest_rated_trusts_votes(db):
    db.add_all(
        [
            Movie(id=1, title="One vote, ten out of ten", vote_average=10.0, vote_count=1),
            Movie(id=2, title="Loved by thousands", vote_average=8.0, vote_count=1000),
            Movie(id=3, title="Loved by a few dozen", vote_average=9.0, vote_count=30),
            Movie(id=4, title="No votes", vote_average=0.0, vote_count=0),
        ]
    )
    db.commit()
    movies, total = list_movies(db, skip=0, limit=10, sort="vote_average")
    # Mean over voted movies 9.0; with 50 prior votes: id 3 -> 9.0, id 2 -> (8000 + 450) / 1050
    # = 8.05; ids 1 and 4 have fewer than 20 votes and come last.
    assert [m.id for m in movies] == [3, 2, 1, 4] and total == 4
