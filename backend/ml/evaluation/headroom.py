"""How much the story signals could add for users with few ratings: an oracle estimate, not served.

The served cold-user blend keeps its content weights only where they rank validation users 3%
better than the blend without content (backend.ml.cold_blend), and on both datasets they never
did. That leaves two readings: validation is too strict, or there is nothing to find. This
diagnostic tells them apart by cheating on purpose: it tunes the blend on the cold-user test
split itself (coordinate ascent on each test user's top-`pool` movies, as the blend is tuned on
validation pools), first with every content weight held at zero, then from those weights with
the content weights free. The ratio of the two estimates what re-weighting the served signals
could give embeddings over no embeddings on these users. Not a strict bound: coordinate ascent
finds a local optimum, and the pool is fixed by the blend without content (content cannot
bring in a movie from outside it). It is fitted on the answers, so it is reported beside the
served figures, never in their place.
"""

from __future__ import annotations

import numpy as np

from backend.ml.base import UserHistory
from backend.ml.blender import coordinate_ascent, pool_ndcg
from backend.ml.hybrid import CONTENT
from backend.ml.scoring import top_n

HEADROOM_POOL = 500


def headroom_from_pools(
    features: np.ndarray,
    hits: np.ndarray,
    n_relevant: np.ndarray,
    start: np.ndarray,
    content: np.ndarray,
    k: int = 10,
) -> dict:
    """Pool NDCG@k of `start` (content weights zero), of the weights tuned with the `content`
    columns held at zero, and of those weights tuned further with the content columns free.

    `features` is (users, pool, signals), `hits` (users, pool) the relevant movies, `n_relevant`
    each user's relevant count (also those outside the pool), `content` a mask over signals.
    """
    content = np.asarray(content, dtype=bool)
    start = np.where(content, 0.0, np.asarray(start, dtype=np.float64))
    served = pool_ndcg(features, hits, n_relevant, start, k)
    tuned = start.copy()
    tuned[~content], _, without = coordinate_ascent(
        features[:, :, ~content], hits, n_relevant, start[~content], k
    )
    free, _, with_content = coordinate_ascent(features, hits, n_relevant, tuned, k)
    return {
        "users": int(len(n_relevant)),
        "served_without_content": served,
        "tuned_without_content": without,
        "tuned_with_content": with_content,
        "ratio": with_content / without if without else float("inf"),
        "tuned_weights": free,
    }


def content_headroom(
    hybrid,  # noqa: ANN001 - a bound backend.ml.hybrid.HybridRecommender with text
    histories: list[UserHistory],
    relevant: list[np.ndarray],
    n_ratings: int,
    k: int = 10,
    pool: int = HEADROOM_POOL,
) -> dict:
    """`headroom_from_pools` for newcomers with `n_ratings` ratings (`histories`, no user id,
    and the catalogue rows each went on to like): the served with-content cold-user blend's
    warm signals, started from the served blend without content, over each user's top `pool`
    unrated movies with training ratings (movies without any keep the served weights)."""
    blend = hybrid.weights(True, n_ratings)
    without = hybrid.weights(False, n_ratings)
    names = [n for n in blend.names if n != "cold" and not n.startswith("cold_")]
    start = np.array(
        [without.weights[without.names.index(n)] if n in without.names else 0.0 for n in names]
    )
    content = np.isin(names, CONTENT)
    cold_rows = np.flatnonzero(hybrid.is_cold)
    feats, hits, n_rel = [], [], []
    for user, liked in zip(histories, relevant, strict=True):
        if liked.size == 0:
            continue
        matrix = hybrid.features(hybrid.signals(user, True), names)
        rows = top_n(matrix @ start, pool, np.r_[user.rows, cold_rows])
        feats.append(matrix[rows].astype(np.float32))
        hits.append(np.isin(rows, liked))
        n_rel.append(int(liked.size))
    if not feats or len({len(f) for f in feats}) != 1:
        return {"users": 0}
    out = headroom_from_pools(np.stack(feats), np.stack(hits), np.array(n_rel), start, content, k)
    out["pool"] = pool
    out["tuned_weights"] = dict(zip(names, np.round(out["tuned_weights"], 3).tolist(), strict=True))
    return out
