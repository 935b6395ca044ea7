"""The benchmark catalogue: ml-latest-small imported, trained and indexed once, then reused.

Lives in `data/benchmark/` (git-ignored): a SQLite database and a DATA_DIR with the models and
the embedding index, built through the CLI exactly as a user would (`prepare`, `train`,
`build-index`). Benchmarks that write (logins, ratings) work on a copy.
"""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from backend.devserver import clean_env, run_cli
from scripts.benchmarks.common import (
    METADATA_SMALL,
    MOVIELENS_SMALL,
    ROOT,
    SHARED_DATA,
    log,
    save_section,
)

HOME = ROOT / "data" / "benchmark"
ADMIN, ADMIN_PASSWORD = "benchadmin", "bench-admin-password"


def catalogue_env(home: Path, **settings: str) -> dict[str, str]:
    """A service environment on `home`'s database and DATA_DIR that imports ml-latest-small
    (with TMDB overviews and posters) from the shared data, as the Makefile does."""
    posters = [
        SHARED_DATA / "posters" / "ml-latest-small_tmdb_w185",
        SHARED_DATA / "posters" / "ml-latest-small_gapfill_by_movieId",
    ]
    return clean_env(
        database_url=f"sqlite:///{home / 'app.db'}",
        data_dir=str(home / "data"),
        catalog_dir=str(MOVIELENS_SMALL),
        catalog_metadata_csv=str(METADATA_SMALL),
        catalog_posters_dirs=",".join(str(p) for p in posters),
        **settings,
    )


def env_for(home: Path, **extra: str) -> dict[str, str]:
    """The benchmark catalogue's environment: its own secret, no schedule, no startup jobs."""
    return catalogue_env(
        home,
        env="development",
        secret_key=(home / "secret").read_text() if (home / "secret").exists() else "",
        scheduler_enabled="false",
        train_on_startup="false",
        build_index_on_startup="false",
        log_level="WARNING",
        **extra,
    )


def ensure(home: Path = HOME) -> Path:
    """Build the catalogue if it is not complete yet; returns its directory."""
    done = home / "READY"
    if done.exists():
        run_cli(["migrate"], env_for(home))  # the code may have a newer schema than the copy
        return home
    home.mkdir(parents=True, exist_ok=True)
    (home / "secret").write_text(secrets.token_urlsafe(32))
    env = env_for(home)
    seconds = {}
    for args in (
        ["prepare"],
        ["create-admin", ADMIN, "--email", "bench@example.com", "--password", ADMIN_PASSWORD],
        ["build-index"],
        ["train"],
    ):
        log(f"benchmark catalogue: backend.cli {args[0]}")
        started = time.perf_counter()
        run_cli(args, env, timeout=7200)
        seconds[args[0]] = round(time.perf_counter() - started, 1)
    # The CLI steps a new user runs, each a fresh process (model loading included).
    save_section("first_start_cli", {"seconds": seconds})
    done.write_text("ok\n")
    return home


def working_copy(target: Path, home: Path = HOME) -> Path:
    """A throwaway copy of the prepared catalogue (the database and DATA_DIR)."""
    ensure(home)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(home, target, ignore=shutil.ignore_patterns("READY", "locks"))
    return target


if __name__ == "__main__":
    ensure()
