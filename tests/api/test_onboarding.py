"""GET /movies/onboarding: well-known, varied first movies to rate, computed from the catalogue."""

from __future__ import annotations

from collections import Counter

from backend.database import SessionLocal
from backend.models import Rating
from tests.helpers import register_and_login


def _rating_counts() -> Counter:
    with SessionLocal() as session:
        return Counter(
            session.scalars(Rating.__table__.select().with_only_columns(Rating.movie_id))
        )


def test_onboarding_is_popular_and_spread_across_genres_and_decades(client):
    headers = register_and_login(client, "newcomer")
    response = client.get("/movies/onboarding?limit=10", headers=headers)
    assert response.status_code == 200, response.text
    movies = response.json()
    assert len(movies) == 10
    assert len({m["id"] for m in movies}) == 10
    assert all(m["poster_url"] == f"/movies/{m['id']}/poster" for m in movies)
    # The generated catalogue has five genres and movies from four decades: ten picks cover
    # every genre and every decade instead of the ten most-rated movies of one kind.
    assert {g for m in movies for g in m["genres"]} == {
        "Action",
        "Comedy",
        "Drama",
        "Sci-Fi",
        "Romance",
    }
    assert len({m["year"] // 10 for m in movies}) == 4
    # ... and they are well known: rated more often than the catalogue's movies on average.
    counts = _rating_counts()
    picked = [counts[m["id"]] for m in movies]
    assert sum(picked) / len(picked) > sum(counts.values()) / len(counts), picked


def test_onboarding_leaves_out_rated_and_excluded_movies(client):
    headers = register_and_login(client, "returning")
    first = [m["id"] for m in client.get("/movies/onboarding", headers=headers).json()]
    assert len(first) == 30
    assert client.put(f"/movies/{first[0]}/rating", json={"rating": 4}, headers=headers).is_success
    again = [m["id"] for m in client.get("/movies/onboarding", headers=headers).json()]
    assert first[0] not in again
    unseen = first[1:4]
    query = "&".join(f"exclude={i}" for i in unseen)
    rest = [m["id"] for m in client.get(f"/movies/onboarding?{query}", headers=headers).json()]
    assert not set(unseen) & set(rest)


def test_onboarding_bad_input_is_a_clear_4xx(client):
    headers = register_and_login(client, "careless")
    assert client.get("/movies/onboarding").status_code == 401
    for query in ("limit=0", "limit=61", "exclude=abc"):
        response = client.get(f"/movies/onboarding?{query}", headers=headers)
        assert response.status_code == 422, query
        assert response.json()["detail"]


def test_my_ratings_sort_by_date_rating_and_title(client):
    headers = register_and_login(client, "sorter")
    movies = client.get("/movies?limit=3&sort=id", headers=headers).json()["items"]
    for movie, value in zip(movies, (3.0, 5.0, 1.5), strict=True):
        saved = client.put(f"/movies/{movie['id']}/rating", json={"rating": value}, headers=headers)
        assert saved.status_code == 200

    def order(sort: str) -> list[float]:
        response = client.get(f"/users/me/ratings?sort={sort}", headers=headers)
        assert response.status_code == 200, response.text
        return [r["rating"] for r in response.json()]

    assert order("date_desc") == [1.5, 5.0, 3.0]
    assert order("date_asc") == [3.0, 5.0, 1.5]
    assert order("rating_desc") == [5.0, 3.0, 1.5]
    assert order("rating_asc") == [1.5, 3.0, 5.0]
    titles = [
        r["movie"]["title"]
        for r in client.get("/users/me/ratings?sort=title", headers=headers).json()
    ]
    assert titles == sorted(titles)
    bad = client.get("/users/me/ratings?sort=stars", headers=headers)
    assert bad.status_code == 422 and "sort" in str(bad.json()["detail"])
