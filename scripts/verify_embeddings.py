#!/usr/bin/env python
"""Check the embedding index against the database; exit non-zero on any mismatch.

Checks: every movie is indexed, no index row belongs to a deleted movie, each row's content hash
matches the movie's current text and poster, text rows are unit vectors of the manifest's
dimension, and the manifest agrees with the arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def verify(db, runtime) -> list[str]:  # noqa: ANN001
    from sqlalchemy import text

    from backend.ml.index_store import content_hash
    from backend.services import model_data

    db.execute(text("SELECT 1"))  # an unreachable database is named as such, not as a mismatch
    problems: list[str] = []
    index = runtime.index_store.load()
    if index is None:
        return ["no usable embedding index on disk (run scripts/setup_embeddings.py)"]
    items = model_data.movie_contents(db)
    db_ids = np.array([it.movie_id for it in items], dtype=np.int64)
    rows = index.rows_for(db_ids)
    missing = db_ids[rows < 0]
    if missing.size:
        problems.append(f"{missing.size} movies not in the index (e.g. {missing[:5].tolist()})")
    extra = np.setdiff1d(np.asarray(index.movie_ids), db_ids)
    if extra.size:
        problems.append(
            f"{extra.size} index rows for movies no longer in the database "
            f"(e.g. {extra[:5].tolist()})"
        )
    hashes = index.manifest.get("hashes", {})
    stale_text = stale_image = 0
    for item in items:
        stored = hashes.get(str(item.movie_id))
        if stored is None:
            continue
        text_hash, image_hash = content_hash(item.text, item.poster_path)
        stale_text += stored[0] != text_hash
        stale_image += bool(image_hash) and stored[1] != image_hash
    if stale_text:
        problems.append(f"{stale_text} movies whose text changed since the index was built")
    if stale_image:
        problems.append(f"{stale_image} movies whose poster changed since the index was built")
    text = np.asarray(index.text)
    if text.shape[1] != int(index.manifest.get("text_dim", -1)):
        problems.append(
            f"text matrix has {text.shape[1]} columns, manifest says "
            f"{index.manifest.get('text_dim')}"
        )
    norms = np.linalg.norm(text, axis=1)
    if text.shape[0] and np.abs(norms - 1).max() > 1e-3:
        problems.append(f"{int((np.abs(norms - 1) > 1e-3).sum())} text rows are not unit vectors")
    images = np.asarray(index.image)[np.asarray(index.has_image)]
    if images.shape[0] and np.abs(np.linalg.norm(images, axis=1) - 1).max() > 1e-3:
        problems.append("some poster rows are not unit vectors")
    if int(np.asarray(index.has_image).sum()) != int(index.manifest.get("n_images", -1)):
        problems.append("has_image count disagrees with the manifest")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        from backend.database import SessionLocal
        from backend.services.recommender_runtime import get_runtime

        with SessionLocal() as db:
            problems = verify(db, get_runtime())
    except Exception as exc:  # noqa: BLE001 - one line, non-zero exit
        from backend.cli import one_line

        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": not problems, "problems": problems}))
    elif problems:
        for problem in problems:
            print(f"MISMATCH: {problem}")
    else:
        print("embedding index matches the database")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
