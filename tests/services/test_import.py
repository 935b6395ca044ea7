"""MovieLens import: ml-latest and ml-100k, metadata, posters, idempotence, malformed input."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from backend.models import Movie, Rating, User
from backend.services.importer import ML100K_GENRES, ImportFormatError, import_movielens
from backend.services.users import authenticate
from tests.helpers import write_catalogue

Mutation = Callable[[Path], tuple[str, int]]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# --- helpers ---------------------------------------------------------------------------------
def counts(db) -> tuple[int, int, int]:
    db.expire_all()
    return tuple(db.scalar(select(func.count(m.id))) for m in (Movie, User, Rating))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def edit_csv(path: Path, line: int, column: str, value: str) -> None:
    """Set `column` on file line `line` (the header is line 1)."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    rows[line - 1][rows[0].index(column)] = value
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def append_csv(path: Path, row: list) -> None:
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerow(row)


def jpeg(path: Path, colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (3, 4), colour).save(path, format="JPEG")
    return path


def small_catalogue(tmp_path: Path, name: str = "cat") -> Path:
    return write_catalogue(tmp_path / name, n_movies=12, n_users=6, seed=3)


def shifted_catalogue(directory: Path, offset: int = 100) -> Path:
    """A catalogue whose movie and user ids start after `offset` (clear of `populated`)."""
    write_catalogue(directory, n_movies=15, n_users=8, seed=1)
    columns = {"movies.csv": ["movieId"], "links.csv": ["movieId"]}
    columns["ratings.csv"] = ["movieId", "userId"]
    for name, shifted in columns.items():
        rows = read_rows(directory / name)
        for row in rows:
            for column in shifted:
                row[column] = str(int(row[column]) + offset)
        with (directory / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return directory


def write_ml100k(directory: Path) -> Path:
    """A tiny ml-100k folder: '|'-separated u.item (latin-1) and tab-separated u.data."""
    directory.mkdir(parents=True, exist_ok=True)

    def flags(*genres: str) -> str:
        return "|".join("1" if g in genres else "0" for g in ML100K_GENRES)

    items = [
        f"1|Toy Story (1995)|01-Jan-1995||http://example.com/1|{flags('Animation', 'Comedy')}",
        f"2|American President, The (1995)|01-Jan-1995||http://x/2|{flags('Comedy', 'Romance')}",
        f"3|Nouvelle Vague|15-Mar-1990||http://x/3|{flags('unknown')}",
        f"4|Café Olé (1997)|20-Jun-1997||http://x/4|{flags('Drama')}",
    ]
    (directory / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    data = [
        (1, 1, 5, 881250949),
        (1, 2, 3, 881250950),
        (2, 1, 4, 881250951),
        (2, 4, 1, 881250952),
        (3, 1, 2, 881250953),
    ]
    (directory / "u.data").write_text("".join(f"{u}\t{m}\t{r}\t{t}\n" for u, m, r, t in data))
    return directory


# --- ml-latest -------------------------------------------------------------------------------
def test_ml_latest_import_counts_titles_genres_and_ids(db, tmp_path):
    catalogue = write_catalogue(tmp_path / "cat")
    ratings = read_rows(catalogue / "ratings.csv")
    stats = import_movielens(db, catalogue)

    assert stats.movies_added == 60
    assert stats.users_added == len({r["userId"] for r in ratings}) == 40
    assert stats.ratings_added == len(ratings)
    assert counts(db) == (60, 40, len(ratings))
    assert stats.dataset.startswith("ml-latest") and "60 movies" in stats.summary()

    toy = db.get(Movie, 1)
    assert (toy.title, toy.year, toy.genres) == ("Toy Adventure", 1981, "Action")
    assert toy.tmdb_id == 5001 and toy.imdb_id == "tt1000001"
    assert db.get(Movie, 6).title == "Action Story 6" and db.get(Movie, 6).year == 1986
    assert db.get(Movie, 2).genre_list == ["Comedy"]

    # Into empty tables, database ids are the MovieLens ids.
    assert all(m.id == m.movielens_id for m in db.scalars(select(Movie)))
    users = list(db.scalars(select(User)))
    assert all(u.id == u.movielens_user_id for u in users)
    first = ratings[0]
    stored = db.scalar(
        select(Rating).where(
            Rating.user_id == int(first["userId"]), Rating.movie_id == int(first["movieId"])
        )
    )
    assert stored.rating == float(first["rating"])


def test_imported_users_cannot_log_in(db, tmp_path):
    import_movielens(db, small_catalogue(tmp_path))
    users = list(db.scalars(select(User)))
    assert users
    for user in users:
        assert user.can_login is False and user.hashed_password is None and not user.is_admin
        assert user.email is None and user.username == f"movielens_{user.movielens_user_id}"
    assert authenticate(db, users[0].username, "") is None
    assert authenticate(db, users[0].username, "anything-at-all") is None


def test_ids_follow_existing_rows_when_tables_are_not_empty(db, tmp_path):
    db.add(User(username="someone", hashed_password="x", can_login=True))
    db.add(Movie(title="Already here", vote_average=1.0, vote_count=1))
    db.commit()
    import_movielens(db, small_catalogue(tmp_path))
    imported = list(db.scalars(select(Movie).where(Movie.movielens_id.is_not(None))))
    assert len(imported) == 12 and all(m.id != m.movielens_id for m in imported)
    # Ratings point at the right movies even though the ids differ.
    toy = db.scalar(select(Movie).where(Movie.movielens_id == 1))
    assert toy.title == "Toy Adventure"
    user = db.scalar(select(User).where(User.movielens_user_id == 1))
    assert user.id != 1
    assert db.scalar(select(func.count(Rating.id)).where(Rating.user_id == user.id)) > 0


def test_vote_average_from_metadata_else_twice_the_mean_rating(db, tmp_path):
    catalogue = small_catalogue(tmp_path)
    append_csv(catalogue / "movies.csv", [99, "Nobody Watched This (1999)", "Drama"])
    ratings = read_rows(catalogue / "ratings.csv")
    sums: dict[int, list[float]] = defaultdict(list)
    for row in ratings:
        sums[int(row["movieId"])].append(float(row["rating"]))
    # Metadata by TMDB id only, for movies 1-4; movie 2's row has no votes.
    metadata = tmp_path / "by_tmdb.csv"
    with metadata.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tmdbId", "overview", "vote_average", "vote_count", "popularity"])
        writer.writerow([5001, "One.", 8.1, 250, 3.5])
        writer.writerow([5002, "Two.", 9.9, 0, 1.0])
        writer.writerow([5003, "Three.", "", "", ""])
        writer.writerow([5004, "Four.", 6.0, 10, 2.0])

    stats = import_movielens(db, catalogue, metadata=metadata)
    assert stats.metadata_matched == 4 and stats.movies_added == 13

    movies = {m.movielens_id: m for m in db.scalars(select(Movie))}
    assert (movies[1].vote_average, movies[1].vote_count, movies[1].overview) == (8.1, 250, "One.")
    assert movies[4].vote_average == 6.0 and movies[4].popularity == 2.0
    for ml_id in (2, 3, *range(5, 13)):
        values = sums[ml_id]
        assert movies[ml_id].vote_average == pytest.approx(2 * sum(values) / len(values), abs=1e-3)
        assert movies[ml_id].vote_count == len(values)
    assert movies[3].overview == "Three." and movies[5].overview == ""
    assert movies[99].vote_average == 0.0 and movies[99].vote_count == 0
    for movie in movies.values():
        assert movie.vote_average is not None and 0 <= movie.vote_average <= 10


def test_metadata_joined_by_movie_id(db, tmp_path):
    catalogue = small_catalogue(tmp_path)
    stats = import_movielens(db, catalogue, metadata=catalogue / "metadata.csv")
    assert stats.metadata_matched == 12
    movie = db.get(Movie, 3)
    assert movie.overview.startswith("A drama film:")
    assert movie.poster_path == "/p3.jpg"
    assert movie.vote_average == round(5 + 3 * 0.7, 1) and movie.vote_count == 121
    assert movie.popularity == 3.0 and movie.release_date == date(2001, 5, 4)


def test_metadata_joined_by_tmdb_id_when_movie_id_is_absent(db, tmp_path):
    catalogue = small_catalogue(tmp_path)
    metadata = tmp_path / "tmdb_only.csv"
    with metadata.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "overview", "poster_path", "release_date"])
        writer.writerow([5006, "Found by TMDB id.", "/six.jpg", "1990-02-03"])
        writer.writerow([777777, "Nobody has this id.", "", ""])
    stats = import_movielens(db, catalogue, metadata=metadata)
    assert stats.metadata_matched == 1
    movie = db.get(Movie, 6)
    assert (movie.overview, movie.poster_path) == ("Found by TMDB id.", "/six.jpg")
    assert movie.release_date == date(1990, 2, 3)


def test_posters_by_tmdb_id_and_by_movie_id_are_copied_into_the_cache(db, tmp_path):
    catalogue = small_catalogue(tmp_path)
    by_tmdb = tmp_path / "by_tmdb"
    sources = {1: jpeg(by_tmdb / "5001.jpg", (255, 0, 0)), 2: jpeg(by_tmdb / "5002.jpg", (0, 0, 9))}
    jpeg(by_tmdb / "not-an-id.jpg", (1, 1, 1))
    (by_tmdb / "notes.txt").write_text("ignored")
    by_movie = tmp_path / "by_movie"  # forced with the ':movie' suffix
    sources[3] = jpeg(by_movie / "3.jpg", (0, 255, 0))
    jpeg(by_movie / "1.jpg", (9, 9, 9))  # movie 1 already has a poster from the first source
    indexed = tmp_path / "indexed"  # detected from index.csv, images in images/
    sources[4] = jpeg(indexed / "images" / "4.jpg", (0, 0, 255))
    with (indexed / "index.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "tmdbId", "file"])
        writer.writerow([4, 5004, "images/4.jpg"])
    indexed_tmdb = tmp_path / "indexed_tmdb"
    sources[5] = jpeg(indexed_tmdb / "5005.jpg", (7, 70, 170))
    with (indexed_tmdb / "index.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "tmdbId", "file"])
        writer.writerow([5, 5005, "5005.jpg"])
    cache = tmp_path / "cache"

    stats = import_movielens(
        db,
        catalogue,
        posters=[by_tmdb, Path(f"{by_movie}:movie"), indexed, indexed_tmdb],
        posters_cache=cache,
    )
    assert stats.posters_attached == 5
    for movie_id, source in sources.items():
        movie = db.get(Movie, movie_id)
        assert movie.poster_file == str(cache / f"{movie_id}.jpg")
        assert Path(movie.poster_file).read_bytes() == source.read_bytes()
    assert db.get(Movie, 6).poster_file is None
    assert sorted(p.name for p in cache.iterdir()) == [f"{i}.jpg" for i in range(1, 6)]


def test_missing_posters_directory_is_a_format_error(db, tmp_path):
    with pytest.raises(ImportFormatError, match="posters directory not found"):
        import_movielens(db, small_catalogue(tmp_path), posters=[tmp_path / "nope"])
    assert counts(db) == (0, 0, 0)


def test_rerunning_adds_nothing(db, tmp_path):
    catalogue = small_catalogue(tmp_path)
    posters = tmp_path / "posters"
    jpeg(posters / "5001.jpg", (10, 20, 30))
    kwargs = {
        "metadata": catalogue / "metadata.csv",
        "posters": [posters],
        "posters_cache": tmp_path / "cache",
    }
    first = import_movielens(db, catalogue, **kwargs)
    assert first.movies_added and first.ratings_added and first.posters_attached == 1
    before = counts(db)
    again = import_movielens(db, catalogue, **kwargs)
    assert (
        again.movies_added,
        again.users_added,
        again.ratings_added,
        again.metadata_matched,
        again.posters_attached,
    ) == (0, 0, 0, 0, 0)
    assert counts(db) == before


# --- ml-100k ---------------------------------------------------------------------------------
def test_ml100k_import(db, tmp_path):
    stats = import_movielens(db, write_ml100k(tmp_path / "ml-100k"))
    assert stats.dataset.startswith("ml-100k")
    assert (stats.movies_added, stats.users_added, stats.ratings_added) == (4, 3, 5)
    assert counts(db) == (4, 3, 5)
    toy = db.get(Movie, 1)
    assert (toy.title, toy.year, toy.genres) == ("Toy Story", 1995, "Animation|Comedy")
    assert toy.release_date == date(1995, 1, 1)
    assert toy.vote_average == pytest.approx(2 * (5 + 4 + 2) / 3, abs=1e-3)
    assert db.get(Movie, 2).title == "The American President"
    untitled_year = db.get(Movie, 3)
    assert (untitled_year.title, untitled_year.year, untitled_year.genres) == (
        "Nouvelle Vague",
        1990,
        "",
    )
    assert db.get(Movie, 4).title == "Café Olé"
    assert all(u.id == u.movielens_user_id and not u.can_login for u in db.scalars(select(User)))
    again = import_movielens(db, tmp_path / "ml-100k")
    assert (again.movies_added, again.users_added, again.ratings_added) == (0, 0, 0)


# --- malformed input -------------------------------------------------------------------------
def _csv_edit(name: str, filename: str, line: int, column: str, value: str) -> Mutation:
    """A case that sets `column` on `line` of `filename` (the case's id is `name`)."""

    def mutate(d: Path) -> tuple[str, int]:
        edit_csv(d / filename, line, column, value)
        return filename, line

    mutate.__name__ = name
    return mutate


def _u_data_line(name: str, text: str) -> Mutation:
    """A case that appends `text` to ml-100k's five-line u.data, so line 6 is at fault."""

    def mutate(d: Path) -> tuple[str, int]:
        with (d / "u.data").open("a") as handle:
            handle.write(text + "\n")
        return "u.data", 6

    mutate.__name__ = name
    return mutate


def _edit_line(path: Path, line: int, change: Callable[[str], str]) -> None:
    """Rewrite line `line` (from 1) of a Latin-1 text file."""
    lines = path.read_bytes().decode("latin-1").splitlines()
    lines[line - 1] = change(lines[line - 1])
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))


def _bad_rating(d: Path) -> tuple[str, int]:
    line = len(read_rows(d / "ratings.csv")) + 1  # the last line: everything before is fine
    edit_csv(d / "ratings.csv", line, "rating", "7")
    return "ratings.csv", line


def _missing_column(d: Path) -> tuple[str, int]:
    rows = read_rows(d / "ratings.csv")
    with (d / "ratings.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["userId", "movieId", "timestamp"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return "ratings.csv", 1


def _unknown_movie(d: Path) -> tuple[str, int]:
    line = len(read_rows(d / "ratings.csv")) + 2
    append_csv(d / "ratings.csv", [1, 4242, 4.0, 1_500_000_000])
    return "ratings.csv", line


def _ml100k_bad_rating(d: Path) -> tuple[str, int]:
    _edit_line(d / "u.data", 3, lambda _: "2\t1\t7\t881250951")
    return "u.data", 3


def _ml100k_bad_item_id(d: Path) -> tuple[str, int]:
    _edit_line(d / "u.item", 2, lambda text: "two" + text[1:])
    return "u.item", 2


def _ml100k_item_fields(d: Path) -> tuple[str, int]:
    _edit_line(d / "u.item", 4, lambda text: text.rsplit("|", 1)[0])
    return "u.item", 4


LATEST_CASES = [
    _bad_rating,
    _csv_edit("_half_step_rating", "ratings.csv", 5, "rating", "3.3"),
    _csv_edit("_non_numeric_movie_id", "movies.csv", 9, "movieId", "eight"),
    _csv_edit("_non_numeric_user_id", "ratings.csv", 12, "userId", "u12"),
    _missing_column,
    _unknown_movie,
    _csv_edit("_empty_title", "movies.csv", 4, "title", "   "),
    _csv_edit("_bad_links", "links.csv", 3, "tmdbId", "n/a"),
]
ML100K_CASES = [
    _u_data_line("_ml100k_field_count", "4\t1\t3"),
    _ml100k_bad_rating,
    _u_data_line("_ml100k_unknown_item", "4\t99\t3\t881250999"),
    _ml100k_bad_item_id,
    _ml100k_item_fields,
]


@pytest.fixture
def populated(db, tmp_path):
    """A database that already holds a good import, so 'unchanged' is not trivially zero."""
    import_movielens(db, write_catalogue(tmp_path / "good", n_movies=15, n_users=3, seed=9))
    before = counts(db)
    assert before[0] == 15
    return before


@pytest.mark.parametrize("mutate", LATEST_CASES, ids=lambda f: f.__name__.strip("_"))
def test_malformed_ml_latest_names_file_and_line_and_changes_nothing(
    db, tmp_path, populated, mutate
):
    catalogue = shifted_catalogue(tmp_path / "bad")
    filename, line = mutate(catalogue)
    posters = tmp_path / "bad_posters"
    jpeg(posters / "5001.jpg", (1, 2, 3))

    with pytest.raises(ImportFormatError) as info:
        import_movielens(
            db,
            catalogue,
            metadata=catalogue / "metadata.csv",
            posters=[posters],
            posters_cache=tmp_path / "cache",
        )
    message = str(info.value)
    assert message.startswith(f"{filename}:{line}:"), message
    assert "\n" not in message
    assert counts(db) == populated


@pytest.mark.parametrize("mutate", ML100K_CASES, ids=lambda f: f.__name__.strip("_"))
def test_malformed_ml100k_names_file_and_line_and_changes_nothing(db, tmp_path, mutate):
    before = counts(db)
    directory = write_ml100k(tmp_path / "ml-100k")
    filename, line = mutate(directory)
    with pytest.raises(ImportFormatError) as info:
        import_movielens(db, directory)
    assert str(info.value).startswith(f"{filename}:{line}:"), str(info.value)
    assert counts(db) == before == (0, 0, 0)


def test_malformed_metadata_is_reported(db, tmp_path, populated):
    catalogue = small_catalogue(tmp_path)
    edit_csv(catalogue / "metadata.csv", 6, "vote_average", "11.5")
    with pytest.raises(ImportFormatError, match=r"^metadata\.csv:6: vote_average"):
        import_movielens(db, catalogue, metadata=catalogue / "metadata.csv")
    with pytest.raises(ImportFormatError, match="metadata file not found"):
        import_movielens(db, catalogue, metadata=tmp_path / "missing.csv")
    assert counts(db) == populated


def test_not_a_movielens_directory(db, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportFormatError, match="not a MovieLens directory"):
        import_movielens(db, tmp_path / "empty")
    with pytest.raises(ImportFormatError, match="directory not found"):
        import_movielens(db, tmp_path / "absent")


# Known importer bugs: each should be an ImportFormatError naming file and line, with the
# database unchanged. The reasons say what happens instead.
def _duplicate_movie_id(d: Path) -> tuple[str, int]:
    line = len(read_rows(d / "movies.csv")) + 2
    first = read_rows(d / "movies.csv")[0]["movieId"]
    append_csv(d / "movies.csv", [first, "Impostor (2000)", "Drama"])
    return "movies.csv", line


def _fractional_movie_id(d: Path) -> tuple[str, int]:
    movie_id = read_rows(d / "movies.csv")[1]["movieId"]
    edit_csv(d / "movies.csv", 3, "movieId", f"{movie_id}.5")
    return "movies.csv", 3


@pytest.mark.parametrize(
    "mutate",
    [
        _csv_edit("_inf_movie_id", "movies.csv", 3, "movieId", "inf"),
        _csv_edit("_huge_timestamp", "ratings.csv", 4, "timestamp", "99999999999999"),
        _csv_edit("_huge_user_id", "ratings.csv", 4, "userId", "99999999999999999999"),
        _duplicate_movie_id,
        _fractional_movie_id,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_more_malformed_values_are_rejected_with_file_and_line(db, tmp_path, populated, mutate):
    catalogue = shifted_catalogue(tmp_path / "gaps")
    filename, line = mutate(catalogue)
    try:
        with pytest.raises(ImportFormatError) as info:
            import_movielens(db, catalogue)
    finally:
        db.rollback()
    assert str(info.value).startswith(f"{filename}:{line}:")
    assert counts(db) == populated


# --- command line ----------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_reports_a_missing_directory_in_one_line(db, tmp_path):
    result = _cli("import-movielens", str(tmp_path / "BADDIR"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "BADDIR" in lines[0] and "Traceback" not in result.stderr


def test_cli_reports_a_malformed_file_in_one_line_and_changes_nothing(db, tmp_path, populated):
    catalogue = small_catalogue(tmp_path, "cli_bad")
    line = len(read_rows(catalogue / "ratings.csv")) + 1
    edit_csv(catalogue / "ratings.csv", line, "rating", "7")
    db.rollback()  # leave no transaction open on the test database
    result = _cli("import-movielens", str(catalogue))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"error: ratings.csv:{line}:"), result.stderr
    assert "Traceback" not in result.stderr
    assert counts(db) == populated
