"""TMDB client and enrichment against httpx.MockTransport fakes (no network)."""

from __future__ import annotations

import logging
from datetime import date
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from backend.models import Movie
from backend.services.tmdb import RateLimiter, TMDBClient, TMDBError, enrich_movies

KEY = "sekrit-key-123"


def _jpeg() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (4, 6), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


JPEG = _jpeg()


def _details(tmdb_id: int, **overrides) -> dict:
    data = {
        "id": tmdb_id,
        "title": f"Movie {tmdb_id}",
        "overview": f"Plot of {tmdb_id}.",
        "poster_path": f"/poster{tmdb_id}.jpg",
        "vote_average": 7.3,
        "vote_count": 1234,
        "release_date": "1999-03-31",
        "popularity": 42.5,
    }
    data.update(overrides)
    return data


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(handler, *, rps: float = 0, max_retries: int = 3, clock=None):
    clock = clock or FakeClock()
    client = TMDBClient(
        KEY,
        base_url="https://api.test/3",
        image_url="https://img.test/t/p/w185",
        requests_per_second=rps,
        max_retries=max_retries,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
    )
    return client, clock


def test_fetch_movie_success_parses_fields():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_details(603))

    client, _ = make_client(handler)
    with client:
        movie = client.fetch_movie(603)
    assert movie == {
        "overview": "Plot of 603.",
        "poster_path": "/poster603.jpg",
        "vote_average": 7.3,
        "vote_count": 1234,
        "release_date": date(1999, 3, 31),
        "popularity": 42.5,
    }
    assert seen[0].url.path == "/3/movie/603"
    assert seen[0].url.params["api_key"] == KEY


def test_fetch_movie_clamps_vote_average_and_tolerates_missing_fields():
    def handler(request):
        return httpx.Response(
            200,
            json={"vote_average": 12.5, "release_date": "", "poster_path": None, "overview": None},
        )

    client, _ = make_client(handler)
    movie = client.fetch_movie(1)
    assert movie["vote_average"] == 10.0
    assert movie["release_date"] is None and movie["poster_path"] is None
    assert movie["overview"] == "" and movie["popularity"] == 0.0


def test_fetch_movie_404_is_none():
    client, clock = make_client(lambda r: httpx.Response(404, json={"status_code": 34}))
    assert client.fetch_movie(99999999) is None
    assert clock.sleeps == []


def test_429_honours_retry_after_then_succeeds():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(429, headers={"Retry-After": "7"})
        return httpx.Response(200, json=_details(5))

    client, clock = make_client(handler)
    assert client.fetch_movie(5)["overview"] == "Plot of 5."
    assert len(calls) == 2
    assert clock.sleeps and max(clock.sleeps) >= 7


def test_5xx_exhausting_retries_raises_without_api_key(caplog):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(500, text=f"boom {request.url}")

    client, clock = make_client(handler, max_retries=3)
    with caplog.at_level(logging.DEBUG), pytest.raises(TMDBError) as info:
        client.fetch_movie(7)
    message = str(info.value)
    assert len(calls) == 4  # the first try plus 3 retries
    assert KEY not in message and "\n" not in message
    assert "500" in message and "/movie/7" in message
    # Exponential backoff between the tries.
    assert clock.sleeps == sorted(clock.sleeps) and clock.sleeps[-1] > clock.sleeps[0]
    assert KEY not in caplog.text


def test_transport_errors_are_retried_then_reported():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError(f"connection refused to {request.url}", request=request)
        return httpx.Response(200, json=_details(8))

    client, _ = make_client(handler)
    assert client.fetch_movie(8)["vote_count"] == 1234

    def always(request):
        raise httpx.ConnectError(f"connection refused to {request.url}", request=request)

    client, _ = make_client(always, max_retries=1)
    with pytest.raises(TMDBError) as info:
        client.fetch_movie(8)
    assert KEY not in str(info.value) and "ConnectError" in str(info.value)


def test_rejected_key_is_fatal_and_masked():
    client, _ = make_client(lambda r: httpx.Response(401, json={"status_code": 7}))
    with pytest.raises(TMDBError) as info:
        client.fetch_movie(1)
    assert info.value.fatal and KEY not in str(info.value)


def test_httpx_request_log_lines_mask_the_key(caplog):
    client, _ = make_client(lambda r: httpx.Response(200, json=_details(3)))
    with caplog.at_level(logging.INFO, logger="httpx"):
        client.fetch_movie(3)
    assert "api_key=***" in caplog.text
    assert KEY not in caplog.text


def test_poster_download_writes_file_and_is_cached(tmp_path: Path):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})

    client, _ = make_client(handler)
    dest = tmp_path / "posters" / "12.jpg"
    assert client.download_poster("/abc.jpg", dest) == dest
    assert dest.read_bytes() == JPEG
    assert str(calls[0].url) == "https://img.test/t/p/w185/abc.jpg"
    assert "api_key" not in str(calls[0].url)
    assert client.download_poster("/abc.jpg", dest) == dest
    assert len(calls) == 1
    assert [p.name for p in dest.parent.iterdir()] == ["12.jpg"]  # no temp files left


def test_poster_download_rejects_non_images(tmp_path: Path):
    client, _ = make_client(
        lambda r: httpx.Response(
            200, text="<html>nope</html>", headers={"content-type": "text/html"}
        )
    )
    dest = tmp_path / "1.jpg"
    assert client.download_poster("/x.jpg", dest) is None
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    # Without a telling content-type, PIL decides.
    client, _ = make_client(lambda r: httpx.Response(200, content=b"garbage bytes"))
    assert client.download_poster("/x.jpg", dest) is None
    client, _ = make_client(lambda r: httpx.Response(200, content=JPEG))
    assert client.download_poster("/x.jpg", dest) == dest
    client, _ = make_client(lambda r: httpx.Response(404))
    assert client.download_poster("/missing.jpg", tmp_path / "2.jpg") is None


def test_rate_limiter_spaces_requests():
    stamps = []
    clock = FakeClock()

    def handler(request):
        stamps.append(clock.now)
        return httpx.Response(200, json=_details(1))

    client, _ = make_client(handler, rps=4, clock=clock)
    for _ in range(5):
        client.fetch_movie(1)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert gaps == pytest.approx([0.25] * 4)


def test_rate_limiter_does_not_wait_when_calls_are_already_spaced():
    clock = FakeClock()
    limiter = RateLimiter(2, sleep=clock.sleep, clock=clock)
    limiter.wait()
    clock.now += 5
    limiter.wait()
    assert clock.sleeps == []
    limiter.wait()
    assert clock.sleeps == pytest.approx([0.5])


def test_from_settings_and_context_manager(settings):
    client = TMDBClient.from_settings(
        settings.model_copy(update={"tmdb_api_key": KEY, "tmdb_max_retries": 5})
    )
    with client as entered:
        assert entered is client and client.max_retries == 5
        assert client.base_url == settings.tmdb_api_url.rstrip("/")
    with pytest.raises(ValueError):
        TMDBClient("")


def test_enrich_movies_updates_fields_and_posters(db, tmp_path: Path):
    db.add_all(
        [
            Movie(title="Known", tmdb_id=100, vote_average=6.0, vote_count=3, movielens_id=1),
            Movie(title="Unknown", tmdb_id=200, vote_average=8.0, vote_count=2, movielens_id=2),
            Movie(title="No link", tmdb_id=None, movielens_id=3),
            Movie(
                title="Done",
                tmdb_id=300,
                overview="Already there.",
                poster_path="/done.jpg",
                poster_file="/somewhere/done.jpg",
                movielens_id=4,
            ),
        ]
    )
    db.commit()
    requested = []

    def handler(request):
        requested.append(request.url.path)
        if request.url.host == "img.test":
            return httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})
        if request.url.path == "/3/movie/100":
            return httpx.Response(200, json=_details(100, vote_average=11.0))
        return httpx.Response(404)

    client, _ = make_client(handler)
    posters = tmp_path / "posters"
    result = enrich_movies(db, client, posters)
    assert (result.updated, result.posters, result.not_found, result.failed) == (1, 1, 1, 0)
    assert "1 movies updated" in result.summary()
    assert sorted(requested) == ["/3/movie/100", "/3/movie/200", "/t/p/w185/poster100.jpg"]

    db.expire_all()
    known = db.scalars(select(Movie).where(Movie.tmdb_id == 100)).one()
    assert known.overview == "Plot of 100."
    assert known.poster_path == "/poster100.jpg"
    assert known.vote_average == 10.0 and known.vote_count == 1234
    assert known.release_date == date(1999, 3, 31) and known.popularity == 42.5
    assert known.poster_file == str(posters / f"{known.id}.jpg")
    assert Path(known.poster_file).read_bytes() == JPEG
    unknown = db.scalars(select(Movie).where(Movie.tmdb_id == 200)).one()
    assert unknown.overview == "" and unknown.poster_file is None and unknown.vote_average == 8.0

    # Nothing left to do for the first movie: a second run only retries the unknown one.
    requested.clear()
    with client:
        again = enrich_movies(db, client, posters)
    assert requested == ["/3/movie/200"] and again.updated == 0 and again.not_found == 1


def test_enrich_movies_keeps_existing_values_and_downloads_missing_poster(db, tmp_path):
    db.add(
        Movie(
            title="Has metadata",
            tmdb_id=100,
            overview="Our own overview.",
            poster_path="/ours.jpg",
            vote_average=5.5,
            vote_count=77,
            popularity=3.0,
            movielens_id=1,
        )
    )
    db.commit()
    requested = []

    def handler(request):
        requested.append(str(request.url))
        return httpx.Response(200, content=JPEG, headers={"content-type": "image/jpeg"})

    client, _ = make_client(handler)
    result = enrich_movies(db, client, tmp_path)
    assert requested == ["https://img.test/t/p/w185/ours.jpg"]  # no details request
    assert (result.updated, result.posters) == (1, 1)
    movie = db.scalars(select(Movie)).one()
    assert (movie.overview, movie.vote_average, movie.vote_count) == ("Our own overview.", 5.5, 77)
    assert movie.poster_file == str(tmp_path / f"{movie.id}.jpg")


def test_enrich_movies_counts_failures_and_respects_limit(db, tmp_path):
    db.add_all([Movie(title=f"M{i}", tmdb_id=i, movielens_id=i) for i in range(1, 4)])
    db.commit()
    requested = []

    def handler(request):
        requested.append(request.url.path)
        return httpx.Response(503)

    client, _ = make_client(handler, max_retries=1)
    result = enrich_movies(db, client, tmp_path, limit=2)
    assert (result.updated, result.failed) == (0, 2)
    assert requested == ["/3/movie/1"] * 2 + ["/3/movie/2"] * 2


def test_enrich_movies_stops_on_rejected_key(db, tmp_path):
    db.add_all([Movie(title=f"M{i}", tmdb_id=i, movielens_id=i) for i in range(1, 4)])
    db.commit()
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(401)

    client, _ = make_client(handler)
    with pytest.raises(TMDBError) as info:
        enrich_movies(db, client, tmp_path)
    assert len(calls) == 1 and KEY not in str(info.value)
