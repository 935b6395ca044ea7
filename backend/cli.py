"""Command line for the movie recommender: `.venv/bin/python -m backend.cli COMMAND` (also
installed as `movierec`).

Each long step is announced with its duration, long loops show progress bars with real counts
(on stderr), and each command ends with one summary line. Errors are one line on stderr with a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from backend.config import get_settings

# A long step without a progress bar says it is still running this often.
HEARTBEAT_SECONDS = 10.0


def one_line(exc: BaseException) -> str:
    """The first line of an error (SQLAlchemy appends help links on further lines); a bad
    setting is named by its environment variable."""
    if isinstance(exc, ValidationError) and exc.title == "Settings":
        first = exc.errors()[0]
        name = "_".join(str(part) for part in first["loc"]).upper()
        return f"invalid setting {name}: {first['msg']}"
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@contextmanager
def step(label: str, number: str = "", heartbeat: float | None = None) -> Iterator[None]:
    """Announce a step before it starts and say how long it took when it ends.

    With `heartbeat`, a step without a progress bar of its own also says every `heartbeat`
    seconds that it is still running. Steps go to stdout so that stderr carries only progress
    bars and, on failure, one error line.
    """
    prefix = f"[{number}] " if number else ""
    print(f"{prefix}{label}...", flush=True)
    started = time.perf_counter()
    done = threading.Event()

    def beat() -> None:
        while heartbeat and not done.wait(heartbeat):
            print(f"{prefix}... {time.perf_counter() - started:.0f} s", flush=True)

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
    print(f"{prefix}{label}: done in {time.perf_counter() - started:.1f} s", flush=True)


def migrate(_: argparse.Namespace | None = None) -> None:
    from alembic.config import Config

    from alembic import command

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "alembic"))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    command.upgrade(config, "head")
    print(f"database at head: {_safe_url(settings.resolved_database_url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def import_movielens_cmd(args: argparse.Namespace) -> None:
    from backend.database import SessionLocal
    from backend.services.importer import import_movielens

    settings = get_settings()
    with step(f"importing {args.directory}"), SessionLocal() as db:
        stats = import_movielens(
            db,
            Path(args.directory),
            metadata=args.metadata,
            posters=[Path(p) for p in args.posters or []],
            posters_cache=settings.posters_dir,
        )
    print(stats.summary())


def prepare(_: argparse.Namespace) -> None:
    """Migrate, then import the default catalogue when the database has no movies."""
    from backend.database import SessionLocal
    from backend.services.catalog import prepare_default_catalog

    migrate()
    with step("checking the catalogue (imports the default one if empty)"), SessionLocal() as db:
        stats = prepare_default_catalog(db, get_settings())
    print(stats.summary() if stats else "catalogue already present: nothing imported")


def create_admin(args: argparse.Namespace) -> None:
    from backend.database import SessionLocal
    from backend.security import password_problem
    from backend.services.users import set_admin

    password = args.password or getpass.getpass("Password: ")
    settings = get_settings()
    if len(password) < settings.password_min_length:
        raise ValueError(f"password must be at least {settings.password_min_length} characters")
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    with SessionLocal() as db:
        user = set_admin(
            db, args.username, args.email, password, reset_password=args.reset_password
        )
    print(f"admin {user.username} (id {user.id}) ready")


def train(_: argparse.Namespace) -> None:
    from backend.jobs.runner import run_locked
    from backend.services.recommender_runtime import get_runtime

    runtime = get_runtime()
    with step("training SVD, item model and blend", heartbeat=HEARTBEAT_SECONDS):
        bundle = run_locked(runtime, runtime.train, wait_seconds=3600)
    print(
        f"models {bundle.version}: {bundle.meta['n_ratings']} ratings, held-out SVD RMSE "
        f"{bundle.meta.get('holdout_rmse')}"
    )


def build_index(args: argparse.Namespace) -> None:
    from backend.jobs.runner import run_locked
    from backend.services.recommender_runtime import get_runtime

    runtime = get_runtime()
    with step("building the embedding index (loads the text model, then encodes new movies)"):
        report = run_locked(
            runtime,
            lambda db: runtime.build_index(db, max_movies=args.max_movies, progress=True),
            wait_seconds=3600,
        )
    s = report.stats
    print(
        f"index {report.version}: {s.encoded_text} texts and {s.encoded_images} posters "
        f"encoded, {s.reused} reused, {s.dropped} dropped, {s.failed_images} posters failed"
    )


def run(_: argparse.Namespace) -> None:
    from backend.server.processes import supervise

    code = supervise(get_settings())
    if code:
        raise SystemExit(code)


def api(_: argparse.Namespace) -> None:
    from backend.server.processes import run_api

    run_api(get_settings())


def worker(_: argparse.Namespace) -> None:
    from backend.jobs.worker import main as worker_main

    worker_main()


def tmdb_enrich(args: argparse.Namespace) -> None:
    from backend.database import SessionLocal
    from backend.services.tmdb import TMDBClient, enrich_movies

    settings = get_settings()
    if not settings.tmdb_api_key:
        raise ValueError("TMDB_API_KEY is not set")
    with TMDBClient.from_settings(settings) as client, SessionLocal() as db:
        result = enrich_movies(db, client, settings.posters_dir, limit=args.limit)
    print(result.summary())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `python -m backend.cli COMMAND --help` for one command's options.\n"
        "Settings (DATABASE_URL, DATA_DIR, ...) come from the environment or .env; see "
        ".env.example.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, summary: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=description)
        p.set_defaults(func=func)
        return p

    command(
        "migrate",
        migrate,
        "apply database migrations",
        "Bring the database (DATABASE_URL) to the newest schema with Alembic.",
    )
    p = command(
        "import-movielens",
        import_movielens_cmd,
        "import a MovieLens directory",
        "Import movies, users and ratings from a MovieLens ml-latest(-small) or ml-100k "
        "directory. Re-running adds nothing; a malformed file stops with one line naming the "
        "file and line and leaves the database as it was.",
    )
    p.add_argument("directory", help="folder with movies.csv + ratings.csv, or ml-100k's u.item")
    p.add_argument(
        "--metadata",
        type=Path,
        help="TMDB-style CSV (overview, votes, ...) joined by movieId or tmdbId",
    )
    p.add_argument(
        "--posters",
        action="append",
        metavar="DIR",
        help="poster images named <tmdbId>.jpg or <movieId>.jpg (repeatable; add "
        "':movie' or ':tmdb' to force the key)",
    )
    command(
        "prepare",
        prepare,
        "migrate and import the default catalogue if empty",
        "Migrate, then import the default catalogue when the database has no movies: "
        "CATALOG_DIR when set, ../shared/data when present, otherwise a checked download.",
    )
    p = command(
        "create-admin",
        create_admin,
        "create an admin (or promote a user: --reset-password)",
        "Create an admin account. An existing name is refused unless --reset-password is "
        "given: then that user becomes an admin with the new password (its sessions end).",
    )
    p.add_argument("username", help="the admin's login name")
    p.add_argument("--email", help="needed when the user does not exist yet")
    p.add_argument("--password", help="prompted for when omitted (at least 8 characters)")
    p.add_argument(
        "--reset-password",
        action="store_true",
        help="the user exists: promote it and set this password (ends its sessions)",
    )
    command(
        "train",
        train,
        "train SVD, item model and blend weights",
        "Train the collaborative models on every rating in the database and publish them; "
        "running servers load the new version by themselves.",
    )
    p = command(
        "build-index",
        build_index,
        "build or update the embedding index",
        "Encode new or changed movies (text, and posters when pretrained ResNet50 weights are "
        "configured), reuse the rest, and publish the index; running servers pick it up.",
    )
    p.add_argument("--max-movies", type=int, metavar="N", help="index only the first N movies")
    command(
        "run",
        run,
        "start the API and the job worker together",
        "Start the API (uvicorn, WEB_CONCURRENCY workers, limits from Settings) and the job "
        "worker; Ctrl-C or SIGTERM stops both, and both stop when either exits.",
    )
    command(
        "api",
        api,
        "start the API only",
        "Start uvicorn with the limits in Settings (body and header size, slow-client and "
        "keep-alive timeouts, trusted proxies). Jobs need a worker: `worker`.",
    )
    command(
        "worker",
        worker,
        "start the job worker only",
        "Run requested jobs (retraining, index rebuilds) one at a time, keep their schedule "
        "and build what a fresh service lacks. One per deployment is enough; more wait.",
    )
    p = command(
        "tmdb-enrich",
        tmdb_enrich,
        "fill metadata and posters from TMDB (needs a key)",
        "Fetch missing overviews, votes and posters from TMDB (needs TMDB_API_KEY).",
    )
    p.add_argument("--limit", type=int, metavar="N", help="enrich at most N movies")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Long jobs report their steps as they go (training and index builds log each stage).
    verbose = args.command in ("train", "build-index", "prepare")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
