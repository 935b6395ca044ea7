"""/embeddings/status shows how far a running index build has come."""

from __future__ import annotations

from backend.config import get_settings
from backend.services.embeddings import index_status
from backend.services.recommender_runtime import RecommenderRuntime


def test_status_reports_build_progress_only_while_building(db):
    runtime = RecommenderRuntime(get_settings())
    assert index_status(db, runtime)["build_progress"] is None
    runtime.building_index = True
    runtime.texts_encoded_at_build_start = runtime.text_encoder().texts_encoded
    runtime.text_encoder().texts_encoded += 40
    progress = index_status(db, runtime)["build_progress"]
    assert progress["texts_encoded"] == 40
    assert progress["catalogue_movies"] == 0 and progress["ratio"] == 0.0
