#!/usr/bin/env python
"""Embedding index build benchmarks; writes its section of docs/performance.md.

    DATA_DIR=... DATABASE_URL=... python scripts/benchmark_embeddings.py
        [--sections text,posters,rebuild,startup] [--text-sample 2000] [--posters 500]
        [--poster-dir DIR] [--reps 2] [--no-doc]

  text     full pipeline text throughput (index_store.build_index, previous=None) vs the raw
           sentence-transformers `model.encode` on the same texts (target: pipeline >= 90%)
  posters  poster pipeline (build_index: hash, decode threads, ResNet50) vs the raw model forward
           on already-decoded images; random weights (throughput, not features, matters)
  rebuild  no-change rebuild of the whole index: build_index(previous=store.load()) and the
           RecommenderRuntime.build_index path, cold (fresh encoders) and warm (target <= 2 s)
  startup  uvicorn on a copy of DATA_DIR with a cached index and models, time to /ready 200
           (target <= 5 s)

DATA_DIR / DATABASE_URL (SQLite) point at a catalogue with models and an index; they are only
read: the rebuild and startup sections work on copies in a temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import commands, free_port, load_avg, log, write_section  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
CACHE = Path(tempfile.gettempdir()) / "movierec-benchmark-embeddings.json"
MARKER = "benchmark_embeddings.py"
SECTIONS = ("text", "posters", "rebuild", "startup")
DEFAULT_POSTERS = ROOT.parent / "shared/data/posters/ml-latest-small_tmdb_w185/images"
TARGETS = {"text_ratio": 0.90, "rebuild_s": 2.0, "startup_s": 5.0}


def machine_info() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cores": os.cpu_count(), "os": f"{platform.system()} {platform.release()}"}
    with contextlib.suppress(Exception):
        import torch

        info["torch"] = f"{torch.__version__}, {torch.get_num_threads()} threads"
    with contextlib.suppress(Exception):
        import sentence_transformers

        info["sentence_transformers"] = sentence_transformers.__version__
    info["python"] = platform.python_version()
    return info


def sqlite_file(settings) -> Path:  # noqa: ANN001
    url = settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        raise SystemExit(
            "error: this benchmark copies the database and needs a SQLite DATABASE_URL"
        )
    return Path(url.removeprefix("sqlite:///"))


def copy_data_dir(settings, prefix: str) -> tuple[Path, Path, str]:  # noqa: ANN001
    """A copy of DATA_DIR (posters left out: the rows point at the originals) and its DB."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    data = tmp / "data"
    shutil.copytree(settings.data_dir, data, ignore=shutil.ignore_patterns("posters", "*.lock"))
    db = sqlite_file(settings)
    target = data / db.name
    if not target.exists():
        shutil.copy2(db, target)
    return tmp, data, f"sqlite:///{target}"


class ZeroText:
    """A text encoder that costs nothing, so the poster pipeline is timed on its own."""

    model_name = "zero"
    model_version = "zero"
    dim = 384

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), self.dim), dtype=np.float32)


# ------------------------------------------------------------------------------------ text
def section_text(items, sample: int, reps: int) -> dict:  # noqa: ANN001
    from backend.ml.index_store import MovieContent, build_index
    from backend.ml.text_encoder import TextEncoder

    picks = np.linspace(0, len(items) - 1, min(sample, len(items))).round().astype(int)
    subset = [MovieContent(items[i].movie_id, items[i].text, None) for i in sorted(set(picks))]
    texts = [it.text for it in subset]
    encoder = TextEncoder()
    started = time.perf_counter()
    encoder.load()
    load_s = time.perf_counter() - started
    encoder.encode(texts[:64])  # warm-up
    raw_runs, pipe_runs = [], []
    for rep in range(reps):
        t = time.perf_counter()
        encoder._model.encode(texts, batch_size=encoder.batch_size, show_progress_bar=False)
        raw_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        build_index(subset, encoder, None, previous=None)
        pipe_runs.append(time.perf_counter() - t)
        log(
            f"text rep {rep + 1}: raw {len(texts) / raw_runs[-1]:.1f}/s, pipeline "
            f"{len(texts) / pipe_runs[-1]:.1f}/s"
        )
    raw_tps = len(texts) / statistics.median(raw_runs)
    pipe_tps = len(texts) / statistics.median(pipe_runs)
    chars = [len(t) for t in texts]
    return {
        "n_texts": len(texts),
        "n_catalogue": len(items),
        "reps": reps,
        "batch_size": encoder.batch_size,
        "model_load_s": round(load_s, 2),
        "median_chars": int(np.median(chars)),
        "raw_per_s": round(raw_tps, 1),
        "pipeline_per_s": round(pipe_tps, 1),
        "ratio": round(pipe_tps / raw_tps, 3),
        "ratio_best": round(min(raw_runs) / min(pipe_runs), 3),
        "raw_runs_s": [round(x, 2) for x in raw_runs],
        "pipeline_runs_s": [round(x, 2) for x in pipe_runs],
        "full_catalogue_estimate_s": round(len(items) / pipe_tps, 0),
        "load_avg": load_avg(),
    }


# --------------------------------------------------------------------------------- posters
def section_posters(poster_dir: Path, n: int, reps: int) -> dict:
    from backend.ml.image_encoder import ImageEncoder, _load_and_preprocess
    from backend.ml.index_store import MovieContent, build_index

    files = sorted(p for p in poster_dir.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not files:
        raise SystemExit(f"error: no poster images in {poster_dir}")
    files = files[:n]
    encoder = ImageEncoder(random_weights=True, allow_download=False, device="cpu")
    arrays = [_load_and_preprocess(p) for p in files]  # untimed: raw model input
    encoder._forward(np.stack(arrays[:4]))  # warm-up
    items = [MovieContent(i + 1, f"poster {i}", p) for i, p in enumerate(files)]
    raw_runs, pipe_runs, decode_runs = [], [], []
    for rep in range(reps):
        t = time.perf_counter()
        for start in range(0, len(arrays), encoder.batch_size):
            encoder._forward(np.stack(arrays[start : start + encoder.batch_size]))
        raw_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        _, stats = build_index(items, ZeroText(), encoder, previous=None)
        pipe_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        for p in files:
            _load_and_preprocess(p)
        decode_runs.append(time.perf_counter() - t)
        log(
            f"posters rep {rep + 1}: raw {len(files) / raw_runs[-1]:.1f}/s, pipeline "
            f"{len(files) / pipe_runs[-1]:.1f}/s ({stats.encoded_images} encoded)"
        )
    raw_ips = len(files) / statistics.median(raw_runs)
    pipe_ips = len(files) / statistics.median(pipe_runs)
    return {
        "n_posters": len(files),
        "poster_dir": str(poster_dir),
        "batch_size": encoder.batch_size,
        "workers": encoder.workers,
        "raw_per_s": round(raw_ips, 2),
        "pipeline_per_s": round(pipe_ips, 2),
        "ratio": round(pipe_ips / raw_ips, 3),
        "ratio_best": round(min(raw_runs) / min(pipe_runs), 3),
        "decode_only_per_s": round(len(files) / statistics.median(decode_runs), 1),
        "raw_runs_s": [round(x, 2) for x in raw_runs],
        "pipeline_runs_s": [round(x, 2) for x in pipe_runs],
        "load_avg": load_avg(),
    }


# --------------------------------------------------------------------------------- rebuild
def section_rebuild(settings, reps: int) -> dict:  # noqa: ANN001
    from sqlalchemy.orm import sessionmaker

    from backend.config import Settings
    from backend.database import make_engine
    from backend.ml import data as ml_data
    from backend.ml.index_store import IndexStore, build_index, content_hash
    from backend.ml.text_encoder import TextEncoder
    from backend.services.recommender_runtime import RecommenderRuntime

    tmp, data, db_url = copy_data_dir(settings, "movierec-bench-rebuild-")
    try:
        engine = make_engine(db_url)
        session = sessionmaker(bind=engine)
        out: dict = {"steps": {}, "runtime": {}}
        store = IndexStore(data / "embeddings")
        version_before = store.current_version()
        with session() as db:
            t = time.perf_counter()
            items = ml_data.movie_contents(db)
            out["steps"]["movie_contents (DB read + texts)"] = time.perf_counter() - t
        t = time.perf_counter()
        previous = store.load()
        out["steps"]["IndexStore.load (mmap + manifest)"] = time.perf_counter() - t
        t = time.perf_counter()
        for it in items:
            content_hash(it.text, it.poster_path)
        out["steps"]["content_hash of every movie (sha1 text + poster file bytes)"] = (
            time.perf_counter() - t
        )
        t = time.perf_counter()
        for it in items:
            content_hash(it.text, None)
        out["steps"]["  of which text only"] = time.perf_counter() - t
        encoder = TextEncoder()
        t = time.perf_counter()
        _ = encoder.model_version
        out["steps"]["TextEncoder() + model_version (dir fingerprint)"] = time.perf_counter() - t
        t = time.perf_counter()
        _ = encoder.dim  # loads the SentenceTransformer: build_index reads .dim
        out["steps"]["TextEncoder.dim -> SentenceTransformer load"] = time.perf_counter() - t
        cold_encoder = TextEncoder()
        t = time.perf_counter()
        _, stats = build_index(items, cold_encoder, None, previous=previous)
        out["build_index_cold_s"] = time.perf_counter() - t
        out["build_index_cold_stats"] = stats.__dict__
        warm = []
        for _ in range(reps):
            t = time.perf_counter()
            _, stats = build_index(items, encoder, None, previous=previous)
            warm.append(time.perf_counter() - t)
        out["build_index_warm_s"] = statistics.median(warm)
        out["build_index_warm_stats"] = stats.__dict__

        overrides = {}
        if previous is not None and not previous.manifest.get("image_model"):
            # the index was built without a poster model: keep it that way, or the "no-change"
            # rebuild would encode every poster (IMAGE_RANDOM_WEIGHTS=true in a test shell)
            overrides = {"image_random_weights": False}
        run_settings = Settings(data_dir=data, database_url=db_url, **overrides)
        runtime = RecommenderRuntime(run_settings)
        runs = []
        with session() as db:
            for _ in range(reps + 1):
                t = time.perf_counter()
                report = runtime.build_index(db)
                runs.append(time.perf_counter() - t)
        out["runtime"] = {
            "cold_s": runs[0],
            "warm_s": statistics.median(runs[1:]),
            "image_status": runtime.events.image_status,
            "reused": report.stats.reused,
            "encoded_text": report.stats.encoded_text,
            "version_unchanged": store.current_version() == version_before,
        }
        out["n_movies"] = len(items)
        out["n_posters"] = sum(1 for it in items if it.poster_path)
        out["steps"] = {k: round(v, 3) for k, v in out["steps"].items()}
        for key in ("build_index_cold_s", "build_index_warm_s"):
            out[key] = round(out[key], 3)
        out["runtime"]["cold_s"] = round(out["runtime"]["cold_s"], 3)
        out["runtime"]["warm_s"] = round(out["runtime"]["warm_s"], 3)
        out["load_avg"] = load_avg()
        engine.dispose()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------- startup
def section_startup(settings, reps: int) -> dict:  # noqa: ANN001
    import httpx

    tmp, data, db_url = copy_data_dir(settings, "movierec-bench-startup-")
    env = {
        **os.environ,
        "DATA_DIR": str(data),
        "DATABASE_URL": db_url,
        "SCHEDULER_ENABLED": "false",
        "TRAIN_ON_STARTUP": "true",
        "BUILD_INDEX_ON_STARTUP": "true",
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        "ENV": "development",
    }
    runs = []
    try:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import backend.main as m; m.app"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        import_s = time.perf_counter() - t
        for rep in range(reps):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            started = time.perf_counter()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "backend.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=ROOT,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=(tmp / f"uvicorn-{rep}.log").open("wb"),
            )
            health = ready = None
            try:
                while time.perf_counter() - started < 120:
                    if proc.poll() is not None:
                        raise RuntimeError(f"uvicorn exited with {proc.returncode}")
                    with contextlib.suppress(httpx.HTTPError):
                        if health is None and httpx.get(f"{base}/health", timeout=1).is_success:
                            health = time.perf_counter() - started
                        if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                            ready = time.perf_counter() - started
                            break
                    time.sleep(0.05)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
            runs.append({"health_s": health, "ready_s": ready})
            log(
                f"startup rep {rep + 1}: /health {health and round(health, 2)} s, "
                f"/ready {ready and round(ready, 2)} s"
            )
        readies = [r["ready_s"] for r in runs if r["ready_s"] is not None]
        return {
            "reps": reps,
            "import_app_s": round(import_s, 2),
            "runs": [{k: (round(v, 2) if v else v) for k, v in r.items()} for r in runs],
            "ready_median_s": round(statistics.median(readies), 2) if readies else None,
            "health_median_s": round(
                statistics.median([r["health_s"] for r in runs if r["health_s"]]), 2
            )
            if readies
            else None,
            "load_avg": load_avg(),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------- rendering
def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**MET**" if ok else "**MISSED**")


def render(results: dict) -> str:
    meta = results.get("meta", {})
    m = meta.get("machine", {})
    out = [
        "## Index builds and start-up (`scripts/benchmark_embeddings.py`)",
        "",
        f"Measured {meta.get('date', '?')} on {m.get('cpu', '?')}, {m.get('cores')} cores, "
        f"{m.get('os', '')}; Python {m.get('python')}, torch {m.get('torch')}, "
        f"sentence-transformers {m.get('sentence_transformers')}; CPU only. The machine is "
        "shared with other jobs (load averages per section below), so throughputs are medians "
        "of repeated runs with raw and pipeline runs interleaved.",
        "",
        "```bash",
        "export DATA_DIR=/tmp/dev1 DATABASE_URL=sqlite:////tmp/dev1/app.db HF_HUB_OFFLINE=1",
        *commands(meta, "benchmark_embeddings.py"),
        "```",
        "",
    ]
    rows = []
    t, p, r, s = (results.get(k) for k in SECTIONS)
    if t:
        rows.append(
            (
                f"text pipeline vs raw `model.encode` ({t['n_texts']:,}-movie sample, medians "
                f"of {t['reps']} interleaved runs; best run vs best run "
                f"{t.get('ratio_best', 0) * 100:.0f}%)",
                "≥ 90%",
                f"{t['ratio'] * 100:.0f}% ({t['pipeline_per_s']} vs {t['raw_per_s']} texts/s)",
                verdict(t["ratio"] >= TARGETS["text_ratio"]),
            )
        )
    if p:
        rows.append(
            (
                f"poster pipeline vs raw forward ({p['n_posters']} posters)",
                "(reported)",
                f"{p['ratio'] * 100:.0f}% ({p['pipeline_per_s']} vs {p['raw_per_s']} posters/s)",
                "—",
            )
        )
    if r:
        rows += [
            (
                f"no-change rebuild, build_index(previous=...) warm ({r['n_movies']:,} movies)",
                "≤ 2 s",
                f"{r['build_index_warm_s']:.2f} s",
                verdict(r["build_index_warm_s"] <= TARGETS["rebuild_s"]),
            ),
            (
                "no-change rebuild, build_index with a fresh TextEncoder",
                "≤ 2 s",
                f"{r['build_index_cold_s']:.2f} s",
                verdict(r["build_index_cold_s"] <= TARGETS["rebuild_s"]),
            ),
            (
                "no-change rebuild, RecommenderRuntime.build_index, first call",
                "≤ 2 s",
                f"{r['runtime']['cold_s']:.2f} s",
                verdict(r["runtime"]["cold_s"] <= TARGETS["rebuild_s"]),
            ),
            (
                "no-change rebuild, RecommenderRuntime.build_index, later calls (scheduler)",
                "≤ 2 s",
                f"{r['runtime']['warm_s']:.2f} s",
                verdict(r["runtime"]["warm_s"] <= TARGETS["rebuild_s"]),
            ),
        ]
    if s and s.get("ready_median_s") is not None:
        rows.append(
            (
                "service start-up with cached index and models to /ready 200 (median)",
                "≤ 5 s",
                f"{s['ready_median_s']:.2f} s",
                verdict(s["ready_median_s"] <= TARGETS["startup_s"]),
            )
        )
    if rows:
        out += ["### Targets", "", "| what | target | measured | |", "| --- | --- | --- | --- |"]
        out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
        out.append("")
    if t:
        out += [
            "### Text throughput",
            "",
            f"{t['n_texts']:,} movie texts sampled evenly from the {t['n_catalogue']:,} of "
            f"ml-latest-small (title, year, genres, tags, TMDB overview; median "
            f"{t['median_chars']} characters), batch size {t['batch_size']}, {t['reps']} "
            f"interleaved runs each. Raw = `SentenceTransformer.encode(texts)`; pipeline = "
            f"`index_store.build_index(items, TextEncoder, None, previous=None)` (hashing, "
            f"chunks, tensor output, L2 normalisation, manifest). Runs (s): raw "
            f"{t['raw_runs_s']}, pipeline {t['pipeline_runs_s']}; model load "
            f"{t['model_load_s']} s. Load average {t['load_avg']}. At this rate the full "
            f"catalogue takes about {t['full_catalogue_estimate_s']:.0f} s.",
            "",
        ]
    if p:
        out += [
            "### Poster throughput",
            "",
            f"{p['n_posters']} real w185 posters, ResNet50 with random weights (same cost as "
            f"pretrained), batch {p['batch_size']}, {p['workers']} decode threads. Raw = the "
            f"model forward on already decoded 224×224 crops; pipeline = `build_index` with a "
            f"zero-cost text encoder (sha1 of each file, threaded decode + resize, forward). "
            f"Decoding alone runs at {p['decode_only_per_s']} posters/s on one thread. Runs "
            f"(s): raw {p['raw_runs_s']}, pipeline {p['pipeline_runs_s']}. Load average "
            f"{p['load_avg']}.",
            "",
        ]
    if r:
        out += [
            f"### No-change rebuild ({r['n_movies']:,} movies, {r['n_posters']:,} with a poster "
            "file, copy of the dev index)",
            "",
            "| step (measured separately) | seconds |",
            "| --- | --- |",
        ]
        out += [f"| {k} | {v:.3f} |" for k, v in r["steps"].items()]
        rt = r["runtime"]
        out += [
            f"| build_index(previous=store.load()), encoder already loaded (median) | "
            f"{r['build_index_warm_s']:.3f} |",
            f"| build_index(previous=store.load()), fresh TextEncoder | "
            f"{r['build_index_cold_s']:.3f} |",
            f"| RecommenderRuntime.build_index, first call (encoders created) | "
            f"{rt['cold_s']:.3f} |",
            f"| RecommenderRuntime.build_index, later calls (median) | {rt['warm_s']:.3f} |",
            "",
            f"Every movie was reused ({rt['reused']:,} reused, {rt['encoded_text']} encoded) and "
            f"the index version stayed the same: {rt['version_unchanged']}. Images: "
            f"{rt['image_status'].split(': ')[0]} (poster model skipped, as when the index was "
            f"built). Load average {r['load_avg']}.",
            "",
        ]
    if s:
        out += [
            f"### Start-up ({s['reps']} starts)",
            "",
            "`uvicorn backend.main:app` on a copy of the dev data with SCHEDULER_ENABLED=false "
            "TRAIN_ON_STARTUP=true BUILD_INDEX_ON_STARTUP=true (models and index on disk, so "
            "neither is rebuilt), timed from process start to the first /health 200 and /ready "
            f"200. Importing the app alone (`import backend.main; backend.main.app`, a fresh "
            f"interpreter) takes {s['import_app_s']} s. Load average {s['load_avg']}.",
            "",
            "| run | /health 200 s | /ready 200 s |",
            "| --- | --- | --- |",
        ]
        out += [f"| {i + 1} | {x['health_s']} | {x['ready_s']} |" for i, x in enumerate(s["runs"])]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--text-sample", type=int, default=2000)
    parser.add_argument("--posters", type=int, default=500)
    parser.add_argument("--poster-dir", type=Path, default=DEFAULT_POSTERS)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--startup-reps", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the doc from the cached results"
    )
    args = parser.parse_args(argv)
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    if args.render_only:
        sections = []
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")

    from backend.config import get_settings
    from backend.database import SessionLocal
    from backend.ml import data as ml_data

    settings = get_settings()
    results: dict = {}
    if args.cache.exists() and not args.fresh:
        with contextlib.suppress(ValueError, OSError):
            results = json.loads(args.cache.read_text())
    this_run = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
    }
    previous_runs = results.get("meta", {}).get("runs", {})
    last = max([r["date"] for r in previous_runs.values() if r.get("date")], default=None)
    results["meta"] = {
        "runs": {**previous_runs, **{sec: this_run for sec in sections}},
        "date": this_run["date"] if sections else (last or this_run["date"]),
        "machine": machine_info(),
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
    }
    if "text" in sections:
        log("section text")
        with SessionLocal() as db:
            items = ml_data.movie_contents(db)
        if not items:
            print("error: the database has no movies", file=sys.stderr)
            return 2
        results["text"] = section_text(items, args.text_sample, args.reps)
    if "posters" in sections:
        log("section posters")
        results["posters"] = section_posters(args.poster_dir, args.posters, max(1, args.reps - 1))
    if "rebuild" in sections:
        log("section rebuild")
        results["rebuild"] = section_rebuild(settings, max(2, args.reps))
    if "startup" in sections:
        log("section startup")
        results["startup"] = section_startup(settings, args.startup_reps)
    args.cache.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_doc:
        write_section(DOC, MARKER, render(results))
        log(f"wrote {DOC.relative_to(ROOT)}")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
