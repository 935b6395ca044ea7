"""Replay held-out MovieLens ratings through the HTTP API to check what an experiment measures.

Three steps (see docs/experiments.md):

  split   per-user random split of a MovieLens ratings.csv: the service is prepared from the
          training part (OUT/ratings.csv with movies.csv and links.csv), OUT/holdout.csv is kept
          for the simulated users. Tags are left out: they are user feedback.
  run     (on the service's host: it reads the same Settings, database and SECRET_KEY) creates
          and starts an experiment as the admin unless it exists, lets the replayed MovieLens
          users log in (passwordless: only a token minted with the service's key works), then
          each simulated user asks for recommendations a few times; a shown movie they rated in
          the held-out part is clicked with a position-dependent probability (1/log2(1+rank)),
          opened (detail_view) and rated with the held-out rating; a shown movie they rated
          badly is dismissed. The report is fetched and printed.

    python scripts/replay_experiment.py split \
        --ratings-dir ../shared/data/movielens/ml-latest-small --out data/replay
    ADMIN_PASSWORD=... python scripts/replay_experiment.py run --url http://127.0.0.1:8140 \
        --holdout data/replay/holdout.csv --experiment hybrid-vs-popularity \
        --variant hybrid=hybrid --variant baseline=popularity --admin admin
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

DISMISS_BELOW = 2.5


@dataclass
class SimulatedUser:
    user_id: int
    token: str
    heldout: dict[int, float]  # database movie id -> held-out rating
    rated: set[int] = field(default_factory=set)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ReplayStats:
    """What one replay sent (lists read, clicks, ratings, dismissals) and its errors by kind."""

    sent: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


# ------------------------------------------------------------------------------------- split
def split_ratings(ratings_dir: Path, out: Path, holdout_fraction: float, seed: int) -> dict:
    """Hold out a random `holdout_fraction` of each user's ratings (users with 5 or more)."""
    rows = np.loadtxt(ratings_dir / "ratings.csv", delimiter=",", skiprows=1, ndmin=2)
    users = rows[:, 0].astype(int)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(rows)), users))  # shuffled within each user
    sorted_users = users[order]
    starts = np.searchsorted(sorted_users, sorted_users, side="left")
    counts = np.bincount(sorted_users)[sorted_users]
    rank = np.arange(len(rows)) - starts
    held = (counts >= 5) & (rank < np.floor(counts * holdout_fraction))
    holdout = np.zeros(len(rows), dtype=bool)
    holdout[order[held]] = True
    out.mkdir(parents=True, exist_ok=True)
    for name in ("movies.csv", "links.csv"):
        if (ratings_dir / name).is_file():
            shutil.copyfile(ratings_dir / name, out / name)
    header = "userId,movieId,rating,timestamp"
    fmt = ["%d", "%d", "%g", "%d"]
    np.savetxt(
        out / "ratings.csv", rows[~holdout], fmt=fmt, delimiter=",", header=header, comments=""
    )
    np.savetxt(
        out / "holdout.csv", rows[holdout], fmt=fmt, delimiter=",", header=header, comments=""
    )
    return {"train": int((~holdout).sum()), "holdout": int(holdout.sum()), "out": str(out)}


def read_holdout(path: Path) -> dict[int, dict[int, float]]:
    """MovieLens user id -> {MovieLens movie id: rating}."""
    out: dict[int, dict[int, float]] = defaultdict(dict)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            out[int(row["userId"])][int(row["movieId"])] = float(row["rating"])
    return dict(out)


# ------------------------------------------------------------------------------------- users
def simulated_users(
    session_factory: Callable, secret_key: str, holdout: dict[int, dict[int, float]]
) -> list[SimulatedUser]:
    """The imported MovieLens users of the held-out file, with tokens minted for them."""
    from sqlalchemy import select

    from backend.models import Movie, User
    from backend.security import create_access_token

    with session_factory() as db:
        users = {
            ml_id: user
            for user, ml_id in db.execute(
                select(User, User.movielens_user_id).where(
                    User.movielens_user_id.in_(list(holdout))
                )
            )
        }
        movie_ids = {
            ml_id: movie_id
            for ml_id, movie_id in db.execute(
                select(Movie.movielens_id, Movie.id).where(Movie.movielens_id.is_not(None))
            )
        }
        for user in users.values():
            user.can_login = True
        db.commit()
        out = []
        for ml_id in sorted(users):
            heldout = {movie_ids[m]: r for m, r in holdout[ml_id].items() if m in movie_ids}
            user = users[ml_id]
            token = create_access_token(user.id, secret_key, 24 * 60, user.token_version)
            out.append(SimulatedUser(user.id, token, heldout))
    return out


# ------------------------------------------------------------------------------------- replay
def _examined(rng: np.random.Generator, positions: np.ndarray) -> np.ndarray:
    return rng.random(len(positions)) < 1.0 / np.log2(1 + positions)


def replay_user(
    client: httpx.Client,
    user: SimulatedUser,
    rng: np.random.Generator,
    sessions: int,
    limit: int,
    stats: ReplayStats,
) -> None:
    for _ in range(sessions):
        response = client.get(
            "/movies/recommendations", params={"limit": limit}, headers=user.headers
        )
        if response.status_code != 200:
            stats.errors[f"recommendations {response.status_code}"] += 1
            continue
        stats.sent["lists"] += 1
        request_id = response.headers["X-Request-ID"]
        shown = np.array([item["id"] for item in response.json()], dtype=int)
        examined = _examined(rng, np.arange(1, len(shown) + 1))
        for movie_id, seen in zip(shown.tolist(), examined.tolist(), strict=True):
            rating = user.heldout.get(movie_id)
            if rating is None or not seen or movie_id in user.rated:
                continue
            kinds = ("dismiss",) if rating < DISMISS_BELOW else ("click", "detail_view")
            for kind in kinds:
                event = {"request_id": request_id, "movie_id": movie_id, "kind": kind}
                sent = client.post("/events", json=event, headers=user.headers)
                if sent.status_code != 201:
                    stats.errors[f"event {sent.status_code}"] += 1
            if kinds[0] == "dismiss":
                stats.sent["dismissals"] += 1
                continue
            stats.sent["clicks"] += 1
            rated = client.put(
                f"/movies/{movie_id}/rating", json={"rating": rating}, headers=user.headers
            )
            if rated.status_code == 200:
                stats.sent["ratings"] += 1
                user.rated.add(movie_id)
            else:
                stats.errors[f"rating {rated.status_code}"] += 1


def replay(
    client: httpx.Client,
    users: list[SimulatedUser],
    *,
    sessions: int = 3,
    limit: int = 10,
    seed: int = 0,
) -> ReplayStats:
    stats = ReplayStats()
    rng = np.random.default_rng(seed)
    for user in users:
        replay_user(client, user, rng, sessions, limit, stats)
    return stats


def ensure_experiment(
    client: httpx.Client, admin: dict, name: str, variants: list[tuple[str, str]]
) -> dict:
    """Create and start the experiment unless it already exists."""
    existing = client.get(f"/admin/experiments/{name}", headers=admin)
    if existing.status_code == 404:
        body = {
            "name": name,
            "description": "replay of held-out MovieLens ratings",
            "variants": [{"name": v, "share": 1, "method": m} for v, m in variants],
        }
        created = client.post("/admin/experiments", json=body, headers=admin)
        created.raise_for_status()
        existing = created
    experiment = existing.json()
    if experiment["status"] == "draft":
        started = client.post(f"/admin/experiments/{name}/start", headers=admin)
        started.raise_for_status()
        experiment = started.json()
    return experiment


def admin_headers(client: httpx.Client, username: str, password: str) -> dict:
    response = client.post("/auth/login", data={"username": username, "password": password})
    if response.status_code != 200:
        raise RuntimeError(f"admin login failed: {response.json().get('detail')}")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def summarise(report: dict) -> str:
    lines = [f"experiment {report['experiment']} ({report['status']}), control {report['control']}"]
    for v in report["variants"]:
        m = v["metrics"]
        lines.append(
            f"  {v['name']:<12} {v['method']:<20} users {v['users']:>4}"
            f"  lists {v['impressions']:>5}"
            + "".join(
                f"  {k} {m[k]['value']:.4f} [{m[k]['low']:.4f}, {m[k]['high']:.4f}]"
                for k in ("ctr", "conversion", "coverage", "novelty")
                if m[k]["value"] is not None and m[k]["low"] is not None
            )
        )
    for c in report["comparisons"]:
        for k in ("ctr", "conversion", "coverage", "novelty"):
            r = c["metrics"][k]
            if r["p_value"] is not None:
                lines.append(
                    f"  {c['variant']} - {c['control']} {k}: {r['difference']:+.4f} "
                    f"[{r['low']:+.4f}, {r['high']:+.4f}] p={r['p_value']:.2g}"
                )
    lines.append(f"  winners: {report['winners']}; SRM p={report['sample_ratio_p_value']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    from backend.config import get_settings
    from backend.database import SessionLocal

    if not args.password:
        raise ValueError("give the admin password with --password or ADMIN_PASSWORD")
    variants = [tuple(v.split("=", 1)) for v in args.variant]
    if any(len(v) != 2 for v in variants):
        raise ValueError("--variant takes NAME=METHOD, e.g. --variant baseline=popularity")
    holdout = read_holdout(Path(args.holdout))
    users = simulated_users(SessionLocal, get_settings().secret_key, holdout)
    if not users:
        raise ValueError("none of the held-out users is in the service's database")
    rng = np.random.default_rng(args.seed)
    if args.users and args.users < len(users):
        users = [users[k] for k in np.sort(rng.choice(len(users), args.users, replace=False))]
    with httpx.Client(base_url=args.url, timeout=60) as client:
        admin = admin_headers(client, args.admin, args.password)
        if variants:
            ensure_experiment(client, admin, args.experiment, variants)
        stats = replay(client, users, sessions=args.sessions, seed=args.seed)
        report = client.get(f"/admin/experiments/{args.experiment}/report", headers=admin)
        report.raise_for_status()
    report = report.json()
    print(
        f"replayed {len(users)} users: "
        + ", ".join(
            f"{stats.sent[kind]} {kind}" for kind in ("lists", "clicks", "ratings", "dismissals")
        )
        + f", errors {dict(stats.errors)}"
    )
    print(summarise(report))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("split", help="split ratings.csv into training and held-out parts")
    p.add_argument("--ratings-dir", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--holdout-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("run", help="replay the held-out ratings against a running service")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--holdout", required=True)
    p.add_argument("--experiment", required=True)
    p.add_argument("--variant", action="append", default=[], metavar="NAME=METHOD")
    p.add_argument("--admin", required=True)
    p.add_argument(
        "--password", default=os.environ.get("ADMIN_PASSWORD"), help="default: $ADMIN_PASSWORD"
    )
    p.add_argument("--users", type=int, help="replay a random sample of this many users")
    p.add_argument("--sessions", type=int, default=3, help="lists asked for per user")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the report JSON here")
    args = parser.parse_args(argv)
    try:
        if args.command == "split":
            if not 0 < args.holdout_fraction < 1:
                raise ValueError("--holdout-fraction must be between 0 and 1")
            print(
                json.dumps(
                    split_ratings(args.ratings_dir, args.out, args.holdout_fraction, args.seed)
                )
            )
        else:
            run(args)
    except (OSError, ValueError, RuntimeError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
