"""Everything one import reads (a MovieLens directory, a TMDB metadata CSV, poster folders),
validated before backend.services.importer writes anything."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from backend.ml.movielens import ImportFormatError, ParsedMovie, parse_metadata, parse_movielens


@dataclass
class ImportFiles:
    """Everything an import reads, validated, before the first write."""

    fmt: str
    movies: dict[int, ParsedMovie]
    ratings: list[tuple[int, int, float, int]]  # (user, movie, rating, unix time), MovieLens ids
    meta_by_movie: dict[int, dict]
    meta_by_tmdb: dict[int, dict]
    posters: list[tuple[dict[int, Path], str]]  # (images by id, "tmdb" or "movie" id)

    def metadata_for(self, movie: ParsedMovie) -> dict:
        """The movie's metadata row, by MovieLens id first, then TMDB id ({} when none)."""
        by_tmdb = self.meta_by_tmdb.get(movie.tmdb_id) if movie.tmdb_id else None
        return self.meta_by_movie.get(movie.movielens_id) or by_tmdb or {}

    def poster_for(self, movie: ParsedMovie) -> Path | None:
        """The first poster folder's image of this movie."""
        for found, key in self.posters:
            lookup = movie.tmdb_id if key == "tmdb" else movie.movielens_id
            if lookup is not None and lookup in found:
                return found[lookup]
        return None

    def rating_sums(self) -> dict[int, list[float]]:
        """MovieLens movie id -> [sum of ratings, count]."""
        sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
        for _, movie_id, value, _ in self.ratings:
            sums[movie_id][0] += value
            sums[movie_id][1] += 1
        return sums


def read_import_files(directory: Path, metadata: Path | None, posters: list[Path]) -> ImportFiles:
    fmt, movies, ratings = parse_movielens(directory)
    meta_by_movie, meta_by_tmdb = parse_metadata(metadata) if metadata else ({}, {})
    return ImportFiles(
        fmt,
        movies,
        ratings,
        meta_by_movie,
        meta_by_tmdb,
        [poster_index(Path(p)) for p in posters],
    )


def poster_index(directory: Path) -> tuple[dict[int, Path], str]:
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
