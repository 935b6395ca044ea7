"""Command line: `python -m backend.cli COMMAND` (also installed as `movierec`).

Errors are reported in one line on stderr with a non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from backend.config import get_settings


def one_line(exc: BaseException) -> str:
    """The first line of an error (SQLAlchemy appends help links on further lines)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


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
    with SessionLocal() as db:
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
    with SessionLocal() as db:
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
    from backend.ml.runtime import get_runtime

    runtime = get_runtime()
    bundle = run_locked(runtime, runtime.train, wait_seconds=3600)
    print(
        f"models {bundle.version}: {bundle.meta['n_ratings']} ratings, held-out SVD RMSE "
        f"{bundle.meta.get('holdout_rmse')}"
    )


def build_index(args: argparse.Namespace) -> None:
    from backend.jobs.runner import run_locked
    from backend.ml.runtime import get_runtime

    runtime = get_runtime()
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="movierec", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=migrate)
    p = sub.add_parser("import-movielens", help="import a MovieLens directory")
    p.add_argument("directory")
    p.add_argument("--metadata", type=Path, help="TMDB-style CSV joined by movieId or tmdbId")
    p.add_argument(
        "--posters",
        action="append",
        metavar="DIR",
        help="poster images named <tmdbId>.jpg or <movieId>.jpg (repeatable; add "
        "':movie' or ':tmdb' to force the key)",
    )
    p.set_defaults(func=import_movielens_cmd)
    sub.add_parser(
        "prepare", help="migrate and import the default catalogue if empty"
    ).set_defaults(func=prepare)
    p = sub.add_parser("create-admin", help="create an admin (or promote one: --reset-password)")
    p.add_argument("username")
    p.add_argument("--email")
    p.add_argument("--password", help="prompted for when omitted")
    p.add_argument(
        "--reset-password",
        action="store_true",
        help="the user exists: promote it and set this password (ends its sessions)",
    )
    p.set_defaults(func=create_admin)
    sub.add_parser("train", help="train SVD, item model and blend weights").set_defaults(func=train)
    p = sub.add_parser("build-index", help="build or update the embedding index")
    p.add_argument("--max-movies", type=int)
    p.set_defaults(func=build_index)
    sub.add_parser(
        "run", help="start the API and the job worker together (stops both on Ctrl-C)"
    ).set_defaults(func=run)
    sub.add_parser("api", help="start the API (uvicorn with the limits in Settings)").set_defaults(
        func=api
    )
    sub.add_parser("worker", help="start the job worker (jobs and their schedule)").set_defaults(
        func=worker
    )
    p = sub.add_parser("tmdb-enrich", help="fill metadata and posters from TMDB (needs a key)")
    p.add_argument("--limit", type=int)
    p.set_defaults(func=tmdb_enrich)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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
