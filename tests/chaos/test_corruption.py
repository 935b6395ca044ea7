"""Whatever is on disk, the service starts and serves the last good version: each corruption
(truncated arrays, wrong-shaped JSON, missing CURRENT target, missing manifest) is quarantined,
logged once with its path, and the newest good version is served; /ready says so."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from backend.services.recommender_runtime import RecommenderRuntime
from tests.helpers import register_and_login

BAD_VERSION = "20990101T000000000000Z-0badbad0"


def _copy_data(loaded: RecommenderRuntime, tmp_path: Path) -> RecommenderRuntime:
    settings = loaded.settings.model_copy(update={"data_dir": tmp_path})
    shutil.copytree(loaded.settings.models_dir, settings.models_dir)
    shutil.copytree(loaded.settings.embeddings_dir, settings.embeddings_dir)
    return RecommenderRuntime(settings)


def _bad_copy(store_root: Path) -> Path:
    """Publish a copy of the current version under a newer name and make it CURRENT."""
    current = (store_root / "CURRENT").read_text().strip()
    bad = store_root / BAD_VERSION
    shutil.copytree(store_root / current, bad)
    for name in ("manifest.json", "meta.json"):  # the copy names its own version
        if (bad / name).exists():
            data = json.loads((bad / name).read_text())
            (bad / name).write_text(json.dumps({**data, "version": BAD_VERSION}))
    (store_root / "CURRENT").write_text(BAD_VERSION + "\n")
    return bad


def _truncate_largest(directory: Path) -> None:
    target = max(
        (p for p in directory.iterdir() if p.suffix in (".npz", ".npy")),
        key=lambda p: p.stat().st_size,
    )
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])


DAMAGE = {
    "models: truncated arrays": ("models", _truncate_largest),
    "models: wrong-shaped blend.json": (
        "models",
        lambda d: (d / "blend.json").write_text(json.dumps(["not", "an", "object"])),
    ),
    "models: meta.json is a number": ("models", lambda d: (d / "meta.json").write_text("42")),
    "models: missing CURRENT target": ("models", shutil.rmtree),
    "index: truncated arrays": ("index", _truncate_largest),
    "index: missing manifest": ("index", lambda d: (d / "manifest.json").unlink()),
    "index: wrong-shaped manifest": ("index", lambda d: (d / "manifest.json").write_text("[]")),
    "index: missing CURRENT target": ("index", shutil.rmtree),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_start_and_serve_the_last_good_version(loaded, tmp_path, caplog, damage):
    runtime = _copy_data(loaded, tmp_path)
    what, corrupt = DAMAGE[damage]
    root = (
        runtime.settings.models_dir / "bundles"
        if what == "models"
        else runtime.settings.embeddings_dir
    )
    good = (root / "CURRENT").read_text().strip()
    bad = _bad_copy(root)
    corrupt(bad)

    caplog.set_level(logging.ERROR)
    fresh = RecommenderRuntime(runtime.settings)  # a process starting on this disk
    fresh.load_from_disk()
    served = fresh.bundle.version if what == "models" else fresh.index.version
    assert served == good
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(bad) in errors[0], errors

    app = create_app(runtime.settings, runtime=fresh)
    with TestClient(app) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        key = "models" if what == "models" else "embedding_index"
        assert checks[key] == good
        assert (
            checks[f"{key}_source"].startswith("fallback")
            and BAD_VERSION in checks[f"{key}_source"]
        )
        headers = register_and_login(client, "chaos", "chaos-password-1")
        client.put("/movies/3/rating", json={"rating": 5}, headers=headers)
        me = client.get("/auth/me", headers=headers).json()["id"]
        for use_embeddings in ("true", "false"):
            recs = client.get(
                f"/movies/recommendations?user_id={me}&limit=5&use_embeddings={use_embeddings}",
                headers=headers,
            )
            assert recs.status_code == 200 and len(recs.json()) == 5
        # Polling again neither reloads nor logs again.
        for _ in range(3):
            client.get("/ready")
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_a_newer_good_version_after_a_bad_one_is_picked_up(loaded, tmp_path):
    runtime = _copy_data(loaded, tmp_path)
    root = runtime.settings.models_dir / "bundles"
    bad = _bad_copy(root)
    (bad / "blend.json").write_text("{}")
    runtime.load_from_disk()
    first = runtime.bundle.version
    assert first != BAD_VERSION
    # Pruning after the next publish keeps a good version and never resurrects the bad one.
    newer = runtime.bundle
    newer.meta = {**newer.meta, "version": "20990102T000000000000Z-900d900d"}
    runtime.model_store.publish(newer.save, newer.version)
    runtime.bundle = None
    runtime.load_from_disk()
    assert runtime.bundle.version == "20990102T000000000000Z-900d900d"
    assert first in runtime.model_store.versions()
    assert BAD_VERSION not in runtime.model_store.versions()


def test_partial_index_build_never_replaces_a_fuller_one(loaded, tmp_path, settings):
    from backend.database import SessionLocal
    from backend.ml.embedding_recommender import EmbeddingRecommender

    runtime = _copy_data(loaded, tmp_path)
    runtime.load_from_disk()
    full = runtime.index.version
    full_size = len(runtime.index)
    with SessionLocal() as db:
        EmbeddingRecommender(db, runtime)._build_movie_embeddings_index(max_movies=10)
        status = EmbeddingRecommender(db, runtime).get_embedding_quality_metrics()
    assert runtime.index_store.current_version() == full
    assert len(runtime.index) == full_size
    assert status["coverage"] == "100%"
