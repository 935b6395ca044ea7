"""Import a MovieLens directory (ml-latest-small CSVs or ml-100k u.data/u.item) into the database.

Everything is parsed and validated before the first write, and written in one transaction, so a
malformed file leaves the database exactly as it was. Re-running adds nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from backend.ml.movielens import ML100K_GENRES, ImportFormatError
from backend.models import Movie, Rating, User
from backend.services.importer_files import ImportFiles, read_import_files
from backend.services.ratings import bump_ratings_versions

__all__ = ["ML100K_GENRES", "ImportFormatError", "ImportStats", "import_movielens"]

log = logging.getLogger(__name__)


@dataclass
class ImportStats:
    """What one import added, and how long it took."""

    dataset: str
    movies_added: int = 0
    users_added: int = 0
    ratings_added: int = 0
    metadata_matched: int = 0
    posters_attached: int = 0
    started: float = field(default_factory=time.perf_counter, repr=False)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def summary(self) -> str:
        return (
            f"{self.dataset}: {self.movies_added} movies, {self.users_added} users, "
            f"{self.ratings_added} ratings added; metadata for {self.metadata_matched}, "
            f"posters for {self.posters_attached}; {self.seconds:.1f} s"
        )


def import_movielens(
    db: Session,
    directory: Path,
    *,
    metadata: Path | None = None,
    posters: list[Path] | None = None,
    posters_cache: Path | None = None,
) -> ImportStats:
    directory = Path(directory)
    if not directory.is_dir():
        raise ImportFormatError(f"{directory}: directory not found")
    files = read_import_files(directory, metadata, posters or [])
    stats = ImportStats(dataset=f"{files.fmt} ({directory})")
    copied: list[Path] = []
    try:
        movie_ids = _insert_movies(db, files, posters_cache, stats, copied)
        user_ids = _insert_users(db, sorted({r[0] for r in files.ratings}), stats)
        _insert_ratings(db, files.ratings, movie_ids, user_ids, stats)
        db.commit()
    except Exception:
        db.rollback()
        for file in copied:
            file.unlink(missing_ok=True)
        raise
    stats.finished = time.perf_counter()
    log.info("import finished: %s", stats.summary())
    return stats


def _insert_movies(
    db: Session,
    files: ImportFiles,
    posters_cache: Path | None,
    stats: ImportStats,
    copied: list[Path],
) -> dict[int, int]:
    existing = _ids_by_movielens_id(db, Movie.movielens_id, Movie.id)
    use_movielens_ids = db.scalar(select(func.count(Movie.id))) == 0
    rating_sums = files.rating_sums()
    rows, copies = [], []
    for ml_id, parsed in files.movies.items():
        if ml_id in existing:
            continue
        meta = files.metadata_for(parsed)
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
        source = files.poster_for(parsed)
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
    existing = _ids_by_movielens_id(db, User.movielens_user_id, User.id)
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
    return _ids_by_movielens_id(db, User.movielens_user_id, User.id)


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
    bump_ratings_versions(db, sorted({row["user_id"] for row in rows}))
    stats.ratings_added = len(rows)


def _ids_by_movielens_id(db: Session, movielens_column, id_column) -> dict[int, int]:  # noqa: ANN001
    """Our id of every row imported from MovieLens, keyed by its MovieLens id."""
    return dict(
        db.execute(select(movielens_column, id_column).where(movielens_column.is_not(None))).all()
    )


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
