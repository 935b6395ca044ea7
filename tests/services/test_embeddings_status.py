"""/embeddings/status shows how far an index build has come, whichever process runs it."""

from __future__ import annotations

import json
import time

from backend.config import get_settings
from backend.ml.text_encoder import BUILD_PROGRESS_FILE, TextEncoder
from backend.services.embeddings import index_status
from backend.services.recommender_runtime import RecommenderRuntime


def test_status_reports_the_progress_file_of_a_running_build(db, tmp_path):
    settings = get_settings().model_copy(update={"data_dir": tmp_path})
    runtime = RecommenderRuntime(settings)
    assert index_status(db, runtime)["build_progress"] is None
    path = settings.embeddings_dir / BUILD_PROGRESS_FILE
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"texts_encoded": 40, "updated_at": time.time()}))
    status = index_status(db, runtime)
    assert status["building"] is True
    assert status["build_progress"]["texts_encoded"] == 40
    path.write_text(json.dumps({"texts_encoded": 40, "updated_at": time.time() - 3600}))
    assert index_status(db, runtime)["build_progress"] is None  # a build that died


def test_encoder_writes_progress_while_asked_and_removes_the_file_after(tmp_path):
    encoder = TextEncoder(backend="torch")
    encoder.encode(["warm-up"])
    path = tmp_path / BUILD_PROGRESS_FILE
    encoder.report_progress(path)
    assert json.loads(path.read_text())["texts_encoded"] == 0
    encoder._progress_written = 0.0  # the next batch writes at once
    encoder.encode(["a", "b", "c"])
    assert json.loads(path.read_text())["texts_encoded"] == 3
    encoder.report_progress(None)
    assert not path.exists()


def test_progress_counts_against_the_texts_this_build_encodes(db, tmp_path):
    settings = get_settings().model_copy(update={"data_dir": tmp_path})
    runtime = RecommenderRuntime(settings)
    path = settings.embeddings_dir / BUILD_PROGRESS_FILE
    encoder = TextEncoder(backend="torch")
    encoder.encode(["warm-up"])
    encoder.report_progress(path)
    encoder.expect(4)  # the build found 4 new or changed movies, the rest reused
    encoder._progress_written = 0.0
    encoder.encode(["a"])
    progress = index_status(db, runtime)["build_progress"]
    assert progress["texts_encoded"] == 1 and progress["texts_to_encode"] == 4
    assert progress["ratio"] == 0.25
    assert progress["elapsed_seconds"] >= 0
    encoder.report_progress(None)
