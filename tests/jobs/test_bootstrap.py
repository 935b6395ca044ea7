"""The worker's bootstrap on a fresh DATA_DIR: index first, then one training that blends text."""

from __future__ import annotations

import pytest

from backend.database import SessionLocal
from backend.jobs.tasks import bootstrap
from backend.ml.recommender import MovieRecommender
from backend.services.recommender_runtime import RecommenderRuntime


def fresh_runtime(settings, data_dir) -> RecommenderRuntime:
    return RecommenderRuntime(
        settings.model_copy(
            update={"data_dir": data_dir, "train_on_startup": True, "build_index_on_startup": True}
        )
    )


def test_first_model_is_trained_once_with_the_text_index(loaded, settings, tmp_path):
    runtime = fresh_runtime(settings, tmp_path)
    with SessionLocal() as db:
        summary = bootstrap(runtime, db)
    assert runtime.index is not None and runtime.bundle is not None
    assert runtime.events.index_builds == 1 and runtime.events.trainings == 1, summary
    assert runtime.events.last_index_build_at <= runtime.events.last_training_at
    # The one model learned its content weights on the index (not defaults, no relearn needed).
    assert runtime.bundle.meta["content_version"].startswith(runtime.index.version)
    weights = runtime.bundle.blend_with_content
    assert weights.source == "learned"
    assert any(name.startswith("content_text") for name in weights.names)
    with SessionLocal() as db:
        recs = MovieRecommender(db, runtime).recommend(2, 5, "hybrid")
    assert recs and not recs[0].fallback

    # A restart finds both and does nothing.
    again = fresh_runtime(settings, tmp_path)
    with SessionLocal() as db:
        assert bootstrap(again, db) == "models and index already present"
    assert again.events.trainings == 0 and again.events.index_builds == 0


def test_models_are_trained_when_the_index_fails(loaded, settings, tmp_path, monkeypatch):
    runtime = fresh_runtime(settings, tmp_path)

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runtime, "build_index", broken)
    with SessionLocal() as db, pytest.raises(RuntimeError, match="disk full.*trained"):
        bootstrap(runtime, db)
    assert runtime.bundle is not None and runtime.index is None
    assert not runtime.bundle.meta["content_version"]
