"""MovieLens and TMDB metadata files read into plain records: the one reader the importer and
the offline evaluation share.

ml-latest-small CSVs or ml-100k u.data/u.item. Every line is validated: a malformed file raises
ImportFormatError naming the file and line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

_YEAR_RE = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
_ARTICLE_RE = re.compile(r"^(.*), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)$")


def split_title(raw: str) -> tuple[str, int | None]:
    """'American President, The (1995)' -> ('The American President', 1995)."""
    raw = raw.strip()
    year = None
    match = _YEAR_RE.search(raw)
    if match:
        year = int(match.group(1))
        raw = raw[: match.start()].strip()
    article = _ARTICLE_RE.match(raw)
    if article:
        sep = "" if article.group(2).endswith("'") else " "
        raw = f"{article.group(2)}{sep}{article.group(1)}"
    return raw, year


ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
]  # fmt: skip


class ImportFormatError(ValueError):
    """A malformed input file; the message names the file and line."""


@dataclass
class ParsedMovie:
    movielens_id: int
    title: str
    year: int | None
    genres: str
    imdb_id: str | None = None
    tmdb_id: int | None = None
    release_date: date | None = None
    tags: list[str] = field(default_factory=list)


def _fail(path: Path, line: int, why: str) -> ImportFormatError:
    return ImportFormatError(f"{path.name}:{line}: {why}")


def _read_csv(path: Path, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise _fail(path, 1, f"missing column(s) {', '.join(missing)}")
            return [(i + 2, row) for i, row in enumerate(reader)]
    except UnicodeDecodeError as exc:
        raise _fail(path, 0, f"not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise _fail(path, 0, f"CSV error: {exc}") from exc


MAX_ID = 2**31 - 1
# Unix time from 1970 to 2100: anything else is a corrupted row, not a rating date.
MAX_TIMESTAMP = 4_102_444_800


def _int(
    path: Path,
    line: int,
    value: str | None,
    name: str,
    *,
    optional: bool = False,
    maximum: int = MAX_ID,
):
    if value is None or value.strip() == "":
        if optional:
            return None
        raise _fail(path, line, f"{name} is empty")
    text = value.strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        raise _fail(path, line, f"{name} {value!r} is not a whole non-negative number")
    number = int(text)
    if number > maximum:
        raise _fail(path, line, f"{name} {value!r} is out of range")
    return number


def _rating(path: Path, line: int, value: str) -> float:
    try:
        rating = float(value)
    except ValueError as exc:
        raise _fail(path, line, f"rating {value!r} is not a number") from exc
    if not (0.5 <= rating <= 5.0) or abs(rating * 2 - round(rating * 2)) > 1e-9:
        raise _fail(path, line, f"rating {value} is outside 0.5-5.0 in half steps")
    return rating


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%d", "%d-%b-%Y"):
        try:
            return datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
    return None


def detect_format(directory: Path) -> str:
    if (directory / "movies.csv").is_file() and (directory / "ratings.csv").is_file():
        return "ml-latest"
    if (directory / "u.item").is_file() and (directory / "u.data").is_file():
        return "ml-100k"
    raise ImportFormatError(
        f"{directory}: not a MovieLens directory (expected movies.csv + ratings.csv, "
        "or u.item + u.data)"
    )


def parse_movielens(directory: Path) -> tuple[str, dict[int, ParsedMovie], list[tuple]]:
    """(format, movies by MovieLens id, (user, movie, rating, timestamp) rows) of a directory."""
    fmt = detect_format(directory)
    movies, ratings = (_parse_ml_latest if fmt == "ml-latest" else _parse_ml_100k)(directory)
    return fmt, movies, ratings


def _parse_ml_latest(directory: Path):
    movies: dict[int, ParsedMovie] = {}
    path = directory / "movies.csv"
    for line, row in _read_csv(path, ["movieId", "title", "genres"]):
        movie_id = _int(path, line, row["movieId"], "movieId")
        if movie_id in movies:
            raise _fail(path, line, f"movieId {movie_id} appears twice")
        title, year = split_title(row["title"] or "")
        if not title:
            raise _fail(path, line, "title is empty")
        movies[movie_id] = ParsedMovie(movie_id, title, year, row["genres"] or "")
    links = directory / "links.csv"
    if links.is_file():
        for line, row in _read_csv(links, ["movieId"]):
            movie = movies.get(_int(links, line, row["movieId"], "movieId"))
            if movie is None:
                continue
            imdb = (row.get("imdbId") or "").strip()
            movie.imdb_id = f"tt{int(imdb):07d}" if imdb.isdigit() else (imdb or None)
            movie.tmdb_id = _int(links, line, row.get("tmdbId"), "tmdbId", optional=True)
    tags_path = directory / "tags.csv"
    if tags_path.is_file():
        for line, row in _read_csv(tags_path, ["movieId", "tag"]):
            movie = movies.get(_int(tags_path, line, row["movieId"], "movieId"))
            tag = (row["tag"] or "").strip()
            if movie is not None and tag and tag.lower() not in {t.lower() for t in movie.tags}:
                movie.tags.append(tag)
    ratings = []
    path = directory / "ratings.csv"
    for line, row in _read_csv(path, ["userId", "movieId", "rating", "timestamp"]):
        movie_id = _int(path, line, row["movieId"], "movieId")
        if movie_id not in movies:
            raise _fail(path, line, f"movieId {movie_id} is not in movies.csv")
        ratings.append(
            (
                _int(path, line, row["userId"], "userId"),
                movie_id,
                _rating(path, line, row["rating"]),
                _int(path, line, row["timestamp"], "timestamp"),
            )
        )
    return movies, ratings


def _parse_ml_100k(directory: Path):
    movies: dict[int, ParsedMovie] = {}
    path = directory / "u.item"
    for line, parts in _fields(path, "|", 5 + len(ML100K_GENRES)):
        movie_id = _int(path, line, parts[0], "movie id")
        if movie_id in movies:
            raise _fail(path, line, f"movie id {movie_id} appears twice")
        title, year = split_title(parts[1])
        release = _parse_date(parts[2])
        flags = parts[5:]
        if any(f not in ("0", "1") for f in flags):
            raise _fail(path, line, "genre flags must be 0 or 1")
        genres = "|".join(
            g for g, f in zip(ML100K_GENRES, flags, strict=True) if f == "1" and g != "unknown"
        )
        movies[movie_id] = ParsedMovie(
            movie_id,
            title or parts[1],
            year or (release.year if release else None),
            genres,
            release_date=release,
        )
    ratings = []
    path = directory / "u.data"
    for line, parts in _fields(path, None, 4):
        movie_id = _int(path, line, parts[1], "item id")
        if movie_id not in movies:
            raise _fail(path, line, f"item id {movie_id} is not in u.item")
        ratings.append(
            (
                _int(path, line, parts[0], "user id"),
                movie_id,
                _rating(path, line, parts[2]),
                _int(path, line, parts[3], "timestamp"),
            )
        )
    return movies, ratings


def _fields(path: Path, separator: str | None, count: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line of an ml-100k file (Latin-1 text);
    `separator` None splits on white space."""
    with path.open(encoding="latin-1") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            parts = raw.rstrip("\n").split(separator)
            if len(parts) != count:
                raise _fail(path, line, f"expected {count} fields, found {len(parts)}")
            yield line, parts


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def parse_metadata(path: Path) -> tuple[dict[int, dict], dict[int, dict]]:
    """Rows keyed by MovieLens id and by TMDB id (either column may be present)."""
    if not path.is_file():
        raise ImportFormatError(f"{path}: metadata file not found")
    by_movie: dict[int, dict] = {}
    by_tmdb: dict[int, dict] = {}
    rows = _read_csv(path, [])
    if not rows:
        return by_movie, by_tmdb
    columns = set(rows[0][1])
    movie_key = next((c for c in ("movieId", "movie_id", "ml100k_movie_id") if c in columns), None)
    tmdb_key = next((c for c in ("tmdbId", "tmdb_id", "id") if c in columns), None)
    if movie_key is None and tmdb_key is None:
        raise _fail(path, 1, "needs a movieId or tmdbId column")
    for line, row in rows:
        meta = {
            "overview": (row.get("overview") or "").strip(),
            "poster_path": (row.get("poster_path") or "").strip() or None,
            "vote_average": _float(row.get("vote_average")),
            "vote_count": _float(row.get("vote_count")),
            "popularity": _float(row.get("popularity")),
            "release_date": _parse_date(row.get("release_date")),
        }
        if meta["vote_average"] is not None and not 0 <= meta["vote_average"] <= 10:
            raise _fail(path, line, f"vote_average {meta['vote_average']} is outside 0-10")
        if movie_key and (key := _int(path, line, row.get(movie_key), movie_key, optional=True)):
            by_movie[key] = meta
        if tmdb_key and (key := _int(path, line, row.get(tmdb_key), tmdb_key, optional=True)):
            by_tmdb.setdefault(key, meta)
    return by_movie, by_tmdb
