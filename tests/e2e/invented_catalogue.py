"""An invented MovieLens-format catalogue for the browser tests (never the real data): 60 movies
in five genres, 30 users with clear tastes, and one movie the tests search for."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

GENRE_TITLES = {
    "Sci-Fi": [
        "Space Saga",
        "Star Voyage",
        "Orbit Station",
        "Quantum Drift",
        "Nebula Run",
        "Robot Dawn",
    ],
    "Comedy": [
        "Office Mixup",
        "Wedding Chaos",
        "Road Trip Blues",
        "Uncle Frank",
        "Pizza Night",
        "Lucky Socks",
    ],
    "Drama": [
        "Silent River",
        "Winter Letters",
        "The Long Road",
        "Broken Bridges",
        "Paper Hearts",
        "Quiet Harbour",
    ],
    "Action": [
        "Iron Fist",
        "Night Chase",
        "Burning Point",
        "Steel Rain",
        "Final Strike",
        "Rogue Pursuit",
    ],
    "Animation": [
        "Paper Dragons",
        "Little Cloud",
        "Forest Friends",
        "Magic Kite",
        "Pebble Town",
        "Moon Bunny",
    ],
}
SECOND_GENRE = {
    "Sci-Fi": "Adventure",
    "Comedy": "Romance",
    "Drama": "Romance",
    "Action": "Thriller",
    "Animation": "Children",
}
TOY_TITLE = "Toy Parade"


@dataclass
class Catalogue:
    directory: Path
    movie_genre: dict[int, str]  # movieId -> primary genre
    toy_movie_id: int


def write_catalogue(directory: Path, *, seed: int = 7) -> Catalogue:
    """Write movies.csv, ratings.csv and links.csv (60 movies, 30 users with clear tastes)."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    movies: list[tuple[int, str, str]] = []
    movie_genre: dict[int, str] = {}
    movie_id = 1
    for genre, bases in GENRE_TITLES.items():
        for i in range(12):
            base = bases[i % len(bases)]
            title = f"{base} {i // len(bases) + 2} ({1980 + (movie_id * 7) % 40})"
            genres = genre if i % 3 else f"{genre}|{SECOND_GENRE[genre]}"
            movies.append((movie_id, title, genres))
            movie_genre[movie_id] = genre
            movie_id += 1
    # Replace one animation title with the movie the test searches for.
    toy_movie_id = next(m for m, g in movie_genre.items() if g == "Animation")
    movies[toy_movie_id - 1] = (toy_movie_id, f"{TOY_TITLE} (1995)", "Animation|Children|Comedy")

    with (directory / "movies.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(movies)
    with (directory / "links.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "imdbId", "tmdbId"])
        for mid, _, _ in movies:
            writer.writerow([mid, f"{900000 + mid:07d}", 800000 + mid])

    genres = list(GENRE_TITLES)
    ratings = []
    timestamp = 1_500_000_000
    for user_id in range(1, 31):
        liked = {genres[user_id % len(genres)]}
        if user_id % 3 == 0:
            liked.add(genres[(user_id + 2) % len(genres)])
        for mid, genre in movie_genre.items():
            if genre in liked:
                if rng.random() < 0.8:
                    ratings.append((user_id, mid, rng.choice([4.0, 4.5, 5.0]), timestamp))
            elif rng.random() < 0.25:
                ratings.append((user_id, mid, rng.choice([1.0, 1.5, 2.0, 2.5]), timestamp))
            timestamp += 37
    with (directory / "ratings.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        writer.writerows(ratings)
    return Catalogue(directory, movie_genre, toy_movie_id)
