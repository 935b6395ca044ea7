"""Import a MovieLens directory (ml-latest-small CSVs or ml-100k u.data/u.item) into the database.

Everything is parsed and validated before the first write, and written in one transaction, so a
malformed file leaves the database exactly as it was. Re-running adds nothing.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from backend.ml.movielens import split_title
from backend.models import Movie, Rating, User

log = logging.getLogger(__name__)

ML100K_GENRES = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
]


class ImportFormatError(ValueError):
    """A malformed input file; the message names the file and line."""


@dataclass
class ImportStats:
    movies_added: int = 0
    users_added: int = 0
    ratings_added: int = 0
    metadata_matched: int = 0
    posters_attached: int = 0
    seconds: float = 0.0
    dataset: str = ""

    def summary(self) -> str:
        return (
            f"{self.dataset}: {self.movies_added} movies, {self.users_added} users, "
            f"{self.ratings_added} ratings added; metadata for {self.metadata_matched}, "
            f"posters for {self.posters_attached}; {self.seconds:.1f} s"
        )


@dataclass
class _ParsedMovie:
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


def _parse_ml_latest(directory: Path):
    movies: dict[int, _ParsedMovie] = {}
    path = directory / "movies.csv"
    for line, row in _read_csv(path, ["movieId", "title", "genres"]):
        movie_id = _int(path, line, row["movieId"], "movieId")
        if movie_id in movies:
            raise _fail(path, line, f"movieId {movie_id} appears twice")
        title, year = split_title(row["title"] or "")
        if not title:
            raise _fail(path, line, "title is empty")
        movies[movie_id] = _ParsedMovie(movie_id, title, year, row["genres"] or "")
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
    movies: dict[int, _ParsedMovie] = {}
    path = directory / "u.item"
    with path.open(encoding="latin-1") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            parts = raw.rstrip("\n").split("|")
            if len(parts) != 5 + len(ML100K_GENRES):
                raise _fail(
                    path, line, f"expected {5 + len(ML100K_GENRES)} fields, found {len(parts)}"
                )
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
            movies[movie_id] = _ParsedMovie(
                movie_id,
                title or parts[1],
                year or (release.year if release else None),
                genres,
                release_date=release,
            )
    ratings = []
    path = directory / "u.data"
    with path.open(encoding="latin-1") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            parts = raw.split()
            if len(parts) != 4:
                raise _fail(path, line, f"expected 4 fields, found {len(parts)}")
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


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _parse_metadata(path: Path) -> tuple[dict[int, dict], dict[int, dict]]:
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


def _poster_index(directory: Path) -> tuple[dict[int, Path], str]:
    """Map id -> image file, keyed by TMDB id or MovieLens id.

    The key comes from a ':movie' / ':tmdb' suffix on the path, else from index.csv (whichever id
    column matches the file names), else TMDB id.
    """
    key = None
    text_dir = str(directory)
    if text_dir.endswith((":movie", ":tmdb")):
        text_dir, key = text_dir.rsplit(":", 1)
    directory = Path(text_dir)
    if not directory.is_dir():
        raise ImportFormatError(f"{directory}: posters directory not found")
    images = directory / "images" if (directory / "images").is_dir() else directory
    index = directory / "index.csv"
    if key is None and index.is_file():
        with index.open(newline="", encoding="utf-8") as handle:
            first = next(csv.DictReader(handle), None) or {}
        stem = Path(first.get("file", "")).stem
        if stem and stem == (first.get("tmdbId") or first.get("tmdb_id")):
            key = "tmdb"
        elif stem and stem in (
            first.get("movieId"),
            first.get("ml100k_movie_id"),
            first.get("movie_id"),
        ):
            key = "movie"
    found = {}
    for file in images.iterdir():
        if file.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"} and file.stem.isdigit():
            found[int(file.stem)] = file
    return found, key or "tmdb"


def import_movielens(
    db: Session,
    directory: Path,
    *,
    metadata: Path | None = None,
    posters: list[Path] | None = None,
    posters_cache: Path | None = None,
) -> ImportStats:
    started = time.perf_counter()
    directory = Path(directory)
    if not directory.is_dir():
        raise ImportFormatError(f"{directory}: directory not found")
    fmt = detect_format(directory)
    movies, ratings = (_parse_ml_latest if fmt == "ml-latest" else _parse_ml_100k)(directory)
    meta_by_movie, meta_by_tmdb = _parse_metadata(metadata) if metadata else ({}, {})
    poster_sources = [_poster_index(Path(p)) for p in posters or []]
    stats = ImportStats(dataset=f"{fmt} ({directory})")

    rating_sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
    for _, movie_id, value, _ in ratings:
        rating_sums[movie_id][0] += value
        rating_sums[movie_id][1] += 1

    copied: list[Path] = []
    try:
        movie_ids = _insert_movies(
            db,
            movies,
            meta_by_movie,
            meta_by_tmdb,
            poster_sources,
            posters_cache,
            rating_sums,
            stats,
            copied,
        )
        user_ids = _insert_users(db, sorted({r[0] for r in ratings}), stats)
        _insert_ratings(db, ratings, movie_ids, user_ids, stats)
        db.commit()
    except Exception:
        db.rollback()
        for file in copied:
            file.unlink(missing_ok=True)
        raise
    stats.seconds = time.perf_counter() - started
    log.info("import finished: %s", stats.summary())
    return stats


def _insert_movies(
    db,
    movies,
    meta_by_movie,
    meta_by_tmdb,
    poster_sources,
    posters_cache,
    rating_sums,
    stats,
    copied: list[Path],
) -> dict[int, int]:
    existing = dict(
        db.execute(
            select(Movie.movielens_id, Movie.id).where(Movie.movielens_id.is_not(None))
        ).all()
    )
    use_movielens_ids = db.scalar(select(func.count(Movie.id))) == 0
    rows, copies = [], []
    for ml_id, parsed in movies.items():
        if ml_id in existing:
            continue
        meta = (
            meta_by_movie.get(ml_id)
            or (meta_by_tmdb.get(parsed.tmdb_id) if parsed.tmdb_id else None)
            or {}
        )
        if meta:
            stats.metadata_matched += 1
        total, count = rating_sums.get(ml_id, (0.0, 0))
        vote_average = meta.get("vote_average")
        if vote_average is None or not meta.get("vote_count"):
            vote_average = round(2 * total / count, 3) if count else (vote_average or 0.0)
        release = meta.get("release_date") or parsed.release_date
        row = {
            "title": parsed.title[:512],
            "overview": meta.get("overview") or "",
            "genres": parsed.genres,
            "tags": "|".join(parsed.tags)[:4000],
            "year": parsed.year or (release.year if release else None),
            "release_date": release,
            "poster_path": meta.get("poster_path"),
            "vote_average": float(vote_average),
            "vote_count": int(meta.get("vote_count") or count),
            "popularity": float(meta.get("popularity") or 0.0),
            "tmdb_id": parsed.tmdb_id,
            "imdb_id": parsed.imdb_id,
            "movielens_id": ml_id,
        }
        if use_movielens_ids:
            row["id"] = ml_id
        source = None
        for found, key in poster_sources:
            lookup = parsed.tmdb_id if key == "tmdb" else ml_id
            if lookup is not None and lookup in found:
                source = found[lookup]
                break
        if source is not None:
            copies.append((row, source))
        rows.append(row)
    if not rows:
        return existing
    db.execute(insert(Movie), rows)
    if use_movielens_ids:
        ids = {r["movielens_id"]: r["id"] for r in rows}
    else:
        ids = dict(
            db.execute(
                select(Movie.movielens_id, Movie.id).where(
                    Movie.movielens_id.in_([r["movielens_id"] for r in rows])
                )
            ).all()
        )
    if copies and posters_cache is not None:
        posters_cache.mkdir(parents=True, exist_ok=True)
        updates = []
        for row, source in copies:
            movie_id = ids[row["movielens_id"]]
            target = posters_cache / f"{movie_id}{source.suffix.lower()}"
            if not target.exists():
                shutil.copyfile(source, target)
                copied.append(target)
            updates.append({"movie_id": movie_id, "poster_file": str(target)})
        db.connection().execute(
            text("UPDATE movies SET poster_file = :poster_file WHERE id = :movie_id"), updates
        )
        stats.posters_attached = len(updates)
    _advance_sequence(db, "movies")
    stats.movies_added = len(rows)
    return {**existing, **ids}


def _insert_users(db, movielens_user_ids: list[int], stats) -> dict[int, int]:
    existing = dict(
        db.execute(
            select(User.movielens_user_id, User.id).where(User.movielens_user_id.is_not(None))
        ).all()
    )
    new = [u for u in movielens_user_ids if u not in existing]
    if not new:
        return existing
    use_ids = db.scalar(select(func.count(User.id))) == 0
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for ml_user in new:
        row = {
            "username": f"movielens_{ml_user}",
            "email": None,
            "hashed_password": None,
            "is_admin": False,
            "can_login": False,
            "movielens_user_id": ml_user,
            "created_at": now,
        }
        if use_ids:
            row["id"] = ml_user
        rows.append(row)
    db.execute(insert(User), rows)
    _advance_sequence(db, "users")
    stats.users_added = len(rows)
    return dict(
        db.execute(
            select(User.movielens_user_id, User.id).where(User.movielens_user_id.is_not(None))
        ).all()
    )


def _insert_ratings(db, ratings, movie_ids, user_ids, stats) -> None:
    existing = set(db.execute(select(Rating.user_id, Rating.movie_id)).all())
    rows, seen = [], set()
    for ml_user, ml_movie, value, ts in ratings:
        key = (user_ids[ml_user], movie_ids[ml_movie])
        if key in existing or key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "user_id": key[0],
                "movie_id": key[1],
                "rating": value,
                "timestamp": datetime.fromtimestamp(ts, UTC).replace(tzinfo=None),
            }
        )
    for start in range(0, len(rows), 20000):
        db.execute(insert(Rating), rows[start : start + 20000])
    stats.ratings_added = len(rows)


def _advance_sequence(db: Session, table: str) -> None:
    """On PostgreSQL, explicit ids leave the serial sequence behind; move it past them."""
    if db.get_bind().dialect.name != "postgresql":
        return
    db.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        )
    )
