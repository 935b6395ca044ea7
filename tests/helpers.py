"""Helpers shared by tests: a generated MovieLens-style catalogue, free ports, accounts."""

from __future__ import annotations

import csv
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import text

from backend.database import SessionLocal, engine
from backend.devserver import DevServer, clean_env, free_port, run_cli, start_cli
from backend.ml.interactions import Interactions
from backend.ml.recommender import MovieRecommender
from backend.services.experiments import forget_running

__all__ = [
    "free_port",
    "long_tailed_ratings",
    "register_and_login",
    "server_env",
    "serving_in_background",
    "write_catalogue",
]

GENRES = ["Action", "Comedy", "Drama", "Sci-Fi", "Romance"]
WORDS = {
    "Action": "explosive chase heist fight rescue mission agent",
    "Comedy": "hilarious misadventure wedding prank friends laugh",
    "Drama": "family loss courage struggle redemption journey",
    "Sci-Fi": "space alien robot future planet starship time travel",
    "Romance": "love affair heart kiss passion longing romance",
}


def write_catalogue(directory: Path, n_movies: int = 60, n_users: int = 40, seed: int = 0) -> Path:
    """An invented ml-latest-style catalogue where each user likes one or two genres."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    movies = []
    for movie_id in range(1, n_movies + 1):
        genre = GENRES[(movie_id - 1) % len(GENRES)]
        title = "Toy Adventure" if movie_id == 1 else f"{genre} Story {movie_id}"
        movies.append((movie_id, f"{title} ({1980 + movie_id % 40})", genre))
    with (directory / "movies.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "title", "genres"])
        writer.writerows(movies)
    with (directory / "links.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "imdbId", "tmdbId"])
        writer.writerows((m[0], f"{1000000 + m[0]:07d}", 5000 + m[0]) for m in movies)
    rows = []
    for user_id in range(1, n_users + 1):
        liked = {GENRES[user_id % len(GENRES)], GENRES[(user_id * 3) % len(GENRES)]}
        # People mostly watch what they like, as in real data; a few others for contrast, in no
        # particular order (timestamps follow it: the blend learns from each user's latest).
        liked_ids = [m[0] for m in movies if m[2] in liked]
        other_ids = [m[0] for m in movies if m[2] not in liked]
        chosen = rng.permutation(
            np.concatenate(
                [
                    rng.choice(
                        liked_ids, size=min(len(liked_ids), int(rng.integers(9, 16))), replace=False
                    ),
                    rng.choice(other_ids, size=int(rng.integers(2, 6)), replace=False),
                ]
            )
        )
        for movie_id in chosen:
            genre = movies[movie_id - 1][2]
            base = 4.5 if genre in liked else 2.0
            value = float(np.clip(np.round((base + rng.normal(0, 0.5)) * 2) / 2, 0.5, 5.0))
            rows.append((user_id, int(movie_id), value, 1_500_000_000 + len(rows)))
    with (directory / "ratings.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        writer.writerows(rows)
    with (directory / "metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "movieId",
                "tmdbId",
                "overview",
                "poster_path",
                "vote_average",
                "vote_count",
                "popularity",
                "release_date",
            ]
        )
        for movie_id, _title, genre in movies:
            words = WORDS[genre]
            writer.writerow(
                [
                    movie_id,
                    5000 + movie_id,
                    f"A {genre.lower()} film: {words}.",
                    f"/p{movie_id}.jpg",
                    round(5 + (movie_id % 5) * 0.7, 1),
                    100 + movie_id * 7,
                    float(movie_id % 13),
                    "2001-05-04",
                ]
            )
    return directory


def register_and_login(
    client, username: str = "alice", password: str = "correct-horse-1", email: str | None = None
) -> dict:
    email = email or f"{username}@example.com"
    response = client.post(
        "/auth/register", json={"username": username, "email": email, "password": password}
    )
    assert response.status_code in (201, 409), response.text
    token = client.post("/auth/login", data={"username": username, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def server_env(root: Path, database_url: str | None = None, **settings: str) -> dict[str, str]:
    """The environment of a service process a test starts: its own database (SQLite under `root`
    unless given) and DATA_DIR, a fresh secret, no schedule, random poster weights, the CPU;
    `settings` add to or override these."""
    base = {
        "database_url": database_url or f"sqlite:///{root / 'app.db'}",
        "data_dir": str(root / "data"),
        "env": "test",
        "secret_key": secrets.token_urlsafe(32),
        "scheduler_enabled": "false",
        "image_random_weights": "true",
        "image_weights_download": "false",
        "embedding_device": "cpu",
    }
    return clean_env(**(base | settings))


@contextmanager
def bare_api(root: Path, **settings: str) -> Iterator[tuple[DevServer, int]]:
    """One `backend.cli api` worker on 127.0.0.1 (a free port) over a migrated, empty database:
    no training, no index; `settings` add to or override these. Yields the server and its port."""
    port = free_port()
    base = {
        "train_on_startup": "false",
        "build_index_on_startup": "false",
        "host": "127.0.0.1",
        "port": str(port),
        "web_concurrency": "1",
    }
    env = server_env(root, **(base | settings))
    run_cli(["migrate"], env)
    dev = start_cli("api", env, root / "api.log", port)
    try:
        dev.wait("/health", timeout=120)
        yield dev, port
    finally:
        dev.stop()


@dataclass
class ServedLists:
    lists: list[list] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)


@contextmanager
def serving_in_background(
    runtime, user_id: int, limit: int, threads: int = 1, pause: float = 0.0
) -> Iterator[ServedLists]:
    """Threads asking `runtime` for `user_id`'s hybrid list until the block ends: every list
    they got, and every error (an empty list is one too)."""
    served = ServedLists()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                with SessionLocal() as db:
                    recs = MovieRecommender(db, runtime).recommend(user_id, limit, "hybrid")
                assert recs, "an empty list"
                served.lists.append(recs)
            except Exception as exc:  # noqa: BLE001 - collected for the test to assert on
                served.errors.append(exc)
            time.sleep(pause)

    workers = [threading.Thread(target=serve) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield served
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def empty_tables(*tables: str) -> None:
    """Delete every row of `tables` (on PostgreSQL, TRUNCATE and restart their ids)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


def clear_all() -> None:
    """Empty every table the experiment tests fill (the shared fixtures know only five)."""
    empty_tables(
        "feedback_events",
        "impression_items",
        "impressions",
        "experiment_variants",
        "experiments",
        "ratings",
        "movies",
        "users",
    )
    forget_running()


def long_tailed_ratings(n_users: int, n_items: int, seed: int = 0) -> Interactions:
    """Toy ratings with a long tail and timestamps: user u rates 8 + u // 3 of movies 1..n_items,
    drawn with probability proportional to 1 / rank."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    users, items = [], []
    for user in range(1, n_users + 1):
        picked = rng.choice(n_items, 8 + user // 3, replace=False, p=popularity / popularity.sum())
        users += [user] * picked.size
        items += (picked + 1).tolist()
    n = len(users)
    return Interactions(
        np.array(users), np.array(items), rng.integers(1, 11, n) / 2.0, rng.permutation(n) + 10**9
    )


def uniform_ratings(n: int, seed: int = 0) -> Interactions:
    """`n` toy ratings of users 1..40 on movies 1..30 drawn uniformly, half-star values from 0.5
    to 5, each at its own time."""
    rng = np.random.default_rng(seed)
    return Interactions(
        rng.integers(1, 41, n), rng.integers(1, 31, n), rng.integers(1, 11, n) / 2.0,
        rng.permutation(n).astype(np.float64),
    )  # fmt: skip
