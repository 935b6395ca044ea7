"""A new user's first real hybrid list: `make run` on a fresh DATA_DIR and SQLite database.

Runs what `make run` runs with the Makefile's environment (the ml-latest-small catalogue from
../shared/data): `backend.cli prepare`, then `backend.cli run` (the API and the job worker, whose
bootstrap builds the text index and trains). An admin is created between the two (not timed:
it only lets the benchmark ask for a MovieLens user's list). It then polls `/ready`, the
user's `use_embeddings=true` list (and the `use_embeddings=false` one to compare) and
`/embeddings/status`, and records the seconds, from the start of `prepare`, to:
  - `/ready` (models trained),
  - the first `use_embeddings=true` list without `fallback`,
  - the first list that uses text signals: not a fallback, served by a model whose blend has a
    text weight, and different from the same user's list without embeddings,
plus the worker's text index build and training seconds (from its log).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from backend.devserver import run_cli, start_server
from scripts.benchmarks.common import load_avg, log, save_section
from scripts.benchmarks.dataset import catalogue_env

ADMIN, ADMIN_PASSWORD = "firstadmin", "first-admin-password"
MOVIELENS_USER = 1
POLL_SECONDS = 1.0
_INDEX_LOG = re.compile(r"embedding index \S+ ready: .*, ([\d.]+) s$", re.M)
_TRAIN_LOG = re.compile(r"models \S+ trained on \d+ ratings in ([\d.]+) s", re.M)


def make_run_env(home: Path) -> dict[str, str]:
    """The Makefile's `run` environment on a fresh database and DATA_DIR."""
    return catalogue_env(home, secret_key=secrets.token_urlsafe(32))


class Probe:
    """What the service answers now, for one MovieLens user, through the public API."""

    def __init__(self, base: str, user_id: int) -> None:
        self.http = httpx.Client(base_url=base, timeout=30.0)
        self.user_id = user_id
        self.headers: dict[str, str] = {}

    def ready(self) -> bool:
        try:
            return self.http.get("/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def login(self) -> None:
        token = self.http.post(
            "/auth/login", data={"username": ADMIN, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def recommendations(self, use_embeddings: bool) -> list[dict]:
        """The user's top-10 ([] while the service cannot answer yet)."""
        flag = str(use_embeddings).lower()
        path = f"/movies/recommendations?user_id={self.user_id}&limit=10&use_embeddings={flag}"
        response = self.http.get(path, headers=self.headers)
        return response.json() if response.status_code == 200 else []

    def status(self) -> dict:
        return self.http.get("/embeddings/status", headers=self.headers).json()


def _text_weight(status: dict) -> float:
    blend = status.get("blend_weights") or {}
    weights = dict(zip(blend.get("names", []), blend.get("weights", []), strict=False))
    return float(weights.get("content_text", 0.0))


def _cpu_seconds(root: int) -> dict[str, float]:
    """CPU seconds (user + system) of the job worker and of the API processes under `root`.

    On a shared machine the wall clock counts other people's work too; CPU seconds do not
    (a build that keeps both cores busy takes about half its CPU seconds on an idle machine).
    """
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            procs[int(stat.parent.name)] = (
                int(fields[1]),
                (int(fields[11]) + int(fields[12])) / tick,
                cmdline,
            )
    totals = {"worker": 0.0, "api": 0.0}
    for pid, (_, cpu, cmdline) in procs.items():
        ancestor = pid
        while ancestor in procs and ancestor != root:
            ancestor = procs[ancestor][0]
        if ancestor == root and pid != root:
            kind = "worker" if "backend.jobs.worker" in cmdline else "api"
            totals[kind] += cpu
    return {kind: round(value, 1) for kind, value in totals.items()}


def _user_id(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT id FROM users WHERE movielens_user_id = :u")
            return int(conn.execute(query, {"u": MOVIELENS_USER}).scalar_one())
    finally:
        engine.dispose()


def measure(home: Path, timeout: float) -> dict:
    env = make_run_env(home)
    started = time.perf_counter()
    run_cli(["prepare"], env, timeout=timeout)
    prepare_seconds = time.perf_counter() - started
    admin_started = time.perf_counter()
    run_cli(
        ["create-admin", ADMIN, "--email", "first@example.com", "--password", ADMIN_PASSWORD], env
    )
    # Creating the admin is not part of `make run`: leave its seconds out of the timeline.
    excluded = time.perf_counter() - admin_started
    server = start_server(env, home / "server.log", workers=2, jobs=True)
    run_started = time.perf_counter()

    def now() -> float:
        return round(prepare_seconds + time.perf_counter() - run_started, 1)

    seconds: dict[str, float | None] = {"prepare": round(prepare_seconds, 1)}
    cpu: dict[str, float] = {}
    events: list[dict] = []
    try:
        server.wait("/health", timeout=timeout)
        probe = Probe(server.base_url, _user_id(env["DATABASE_URL"]))
        probe.login()
        last_state = None
        while time.perf_counter() - run_started < timeout:
            if "ready" not in seconds and probe.ready():
                seconds["ready"] = now()
            with_text = probe.recommendations(True)
            fallback = not with_text or any(item["fallback"] for item in with_text)
            state = (
                "fallback" if fallback else "hybrid",
                with_text[0]["method"] if with_text else "",
            )
            if state != last_state:
                events.append({"at": now(), "list": state[0], "method": state[1]})
                last_state = state
            if not fallback:
                seconds.setdefault("first_non_fallback", now())
                status = probe.status()
                baseline = [item["id"] for item in probe.recommendations(False)]
                differs = [item["id"] for item in with_text] != baseline
                if _text_weight(status) != 0.0 and differs:
                    seconds["first_text_list"] = now()
                    cpu = _cpu_seconds(server.process.pid)
                    events.append({"at": now(), "text_weight": _text_weight(status)})
                    break
            time.sleep(POLL_SECONDS)
    finally:
        server.stop()
    server_log = server.log_tail(10**7)
    index = _INDEX_LOG.findall(server_log)
    train = _TRAIN_LOG.findall(server_log)
    return {
        "seconds": seconds
        | {k: seconds.get(k) for k in ("ready", "first_non_fallback", "first_text_list")},
        "admin_seconds_excluded": round(excluded, 1),
        "text_index_build_seconds": float(index[0]) if index else None,
        "train_seconds": [float(s) for s in train],
        "trainings": len(train),
        "cpu_seconds_to_first_text_list": cpu,
        "timeline": events,
        "user": {"movielens_user_id": MOVIELENS_USER},
        "web_concurrency": 2,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1200.0, help="give up after (s)")
    parser.add_argument("--keep", action="store_true", help="keep the fresh directory")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="first-answer-"))
    load_at_start = load_avg()
    log(f"fresh `make run` in {home} (load average {load_at_start})")
    try:
        figures = measure(home, args.timeout) | {"load_avg_at_run_start": load_at_start}
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    log(
        f"first answer: {figures['seconds']}, index {figures['text_index_build_seconds']} s, "
        f"training {figures['train_seconds']} s"
    )
    save_section("first_answer", figures)
    return 0 if figures["seconds"].get("first_text_list") else 1


if __name__ == "__main__":
    raise SystemExit(main())
