"""Blend weights for users with few ratings ("cold users"), one set per history length.

The warm blend is learned on validation users with their whole training history. With one to
five ratings the signals mean something else: EASE and SVD know little of the user, popularity
and the few movies' stories carry more. So the validation users' histories are also cut to
their first 1, 3 and 5 training ratings by time (what a newcomer has rated), and a blend is
learned at each length, with and without content, the same way as the warm one (a logistic fit
on held-out watched movies against sampled unwatched ones, refined by coordinate ascent on
validation NDCG@k). The targets are every movie liked (rated >= TrainParams.target_rating)
after the first ones (in the rest of the validation-training part and the held-out part): what
a newcomer likes next, as the cold-user evaluation measures it. The later training ratings were
seen by the validation split's models (one user's share of the EASE co-occurrences and counts);
the held-out ones were not. A user with n ratings gets the blend learned at the longest length
<= n; from WARM_FROM ratings on, the warm blend. Cold-movie weights are the warm blend's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from backend.ml.blender import (
    KEEP_MARGIN,
    WARM_SIGNALS,
    BlendWeights,
    coordinate_ascent,
    fit_logistic,
    pool_ndcg,
)
from backend.ml.scoring import top_n

log = logging.getLogger(__name__)

HISTORY_LENGTHS = (1, 3, 5)
WARM_FROM = 10
MAX_USERS = 300  # validation users per history length: bounds the retrain time
# Warm-movie signals a cold-user blend may weigh. Unlike the warm blend it also weighs
# content_cf and content_watch (before content_image, the order the blend is fitted in): with
# three ratings, what someone chose to watch says as much as how they rated, and the aligned
# content map (backend.ml.aligned_content) smooths EASE's few votes over similar stories.
COLD_USER_SIGNALS = (*WARM_SIGNALS[:-1], "content_cf", "content_watch", WARM_SIGNALS[-1])
POPULAR = ("popularity", "trending", "metadata_popularity")


@dataclass
class ColdUserBlends:
    """Blend weights learned at each history length in `lengths` (ascending)."""

    lengths: list[int]
    with_content: list[BlendWeights]
    without_content: list[BlendWeights]

    def pick(self, n_ratings: int, use_content: bool) -> BlendWeights | None:
        """The blend for a user with `n_ratings` ratings; None from WARM_FROM on (warm blend)."""
        if n_ratings >= WARM_FROM or not self.lengths:
            return None
        slot = max(int(np.searchsorted(self.lengths, n_ratings, side="right")) - 1, 0)
        return (self.with_content if use_content else self.without_content)[slot]

    def to_json(self) -> dict:
        return {
            "lengths": list(self.lengths),
            "with_content": [w.to_json() for w in self.with_content],
            "without_content": [w.to_json() for w in self.without_content],
        }

    @classmethod
    def from_json(cls, data: dict) -> ColdUserBlends:
        return cls(
            [int(n) for n in data["lengths"]],
            [BlendWeights.from_json(w) for w in data["with_content"]],
            [BlendWeights.from_json(w) for w in data["without_content"]],
        )


def cold_user_names(warm_names: list[str], signals: list[str]) -> list[str]:
    """The cold-user blend's features: COLD_USER_SIGNALS present, then the warm blend's
    cold-movie columns ("cold", "cold_*"), whose weights it keeps."""
    movie_cold = [n for n in warm_names if n == "cold" or n.startswith("cold_")]
    return [s for s in COLD_USER_SIGNALS if s in signals] + movie_cold


@dataclass
class _Pools:
    """One history length's validation examples: logistic rows and per-user NDCG pools."""

    rows: list[np.ndarray]
    labels: list[np.ndarray]
    sample_weight: list[np.ndarray]
    features: list[np.ndarray]
    hits: list[np.ndarray]
    n_relevant: list[int]


def _collect(model, histories, targets, users, length, names, start, params, rng) -> _Pools:  # noqa: ANN001
    """Every validation user's first `length` ratings as a newcomer's (no user id: SVD folds
    them in) against their held-out movies, over warm movies only (cold ones keep the warm
    blend's weights). Each user's NDCG pool is the top of the `start` weights' ranking."""
    pools = _Pools([], [], [], [], [], [])
    warm_rows, cold_rows = np.flatnonzero(~model.is_cold), np.flatnonzero(model.is_cold)
    n_pool = min(params.ndcg_pool, warm_rows.size)
    for user in users:
        items, ratings = histories[user]
        if len(items) < length or user not in targets:
            continue
        history = model.user(None, items[:length], ratings[:length])
        liked_next = items[length:][ratings[length:] >= params.target_rating]
        positives = np.union1d(model.catalogue.positions(liked_next), targets[user])
        positives = positives[positives >= 0]
        positives = positives[~model.is_cold[positives]]
        if positives.size == 0:
            continue
        feats = model.features(model.signals(history, model.has_text), names).astype(np.float32)
        unrated = np.setdiff1d(warm_rows, np.r_[history.rows, positives])
        negatives = rng.choice(unrated, size=min(params.negatives_per_user, unrated.size),
                               replace=False)  # fmt: skip
        pools.rows.append(feats[np.r_[positives, negatives]])
        pools.labels.append(np.r_[np.ones(positives.size), np.zeros(negatives.size)])
        pools.sample_weight.append(
            np.r_[np.full(positives.size, 1 / positives.size),
                  np.full(negatives.size, 1 / max(negatives.size, 1))]
        )  # fmt: skip
        pool = top_n(feats @ start, n_pool, np.r_[history.rows, cold_rows])
        if pool.size < n_pool:
            continue
        pools.features.append(feats[pool])
        pools.hits.append(np.isin(pool, positives))
        pools.n_relevant.append(int(positives.size))
    return pools


def _weights_by_name(blend: BlendWeights, names: list[str]) -> np.ndarray:
    """`blend`'s weight for each of `names` (0 where it has none)."""
    return np.array([blend.weights[blend.names.index(n)] if n in blend.names else 0.0
                     for n in names])  # fmt: skip


def _learn_one(pools, names, columns, warm, params, incumbent, start_weights=None):  # noqa: ANN001, ANN202
    """Weights for `names`: over `columns` coordinate ascent on pool NDCG from `start_weights`
    (a logistic fit when None; the `incumbent` blend's unless beaten by KEEP_MARGIN), elsewhere
    the `warm` blend's (cold-movie columns)."""
    if start_weights is None:
        sw = np.concatenate(pools.sample_weight)
        x = np.vstack(pools.rows)[:, columns]
        labels = np.concatenate(pools.labels)
        coef = fit_logistic(x, labels, params.blend_l2, sw * len(sw) / sw.sum())[1:]
    else:
        coef = np.array(start_weights, dtype=np.float64)
    picked = [names[j] for j in columns]
    popular = np.isin(picked, POPULAR)
    coef[popular] = np.maximum(coef[popular], 0.0)
    feats = np.stack(pools.features)[:, :, columns]
    hits, n_rel = np.stack(pools.hits), np.array(pools.n_relevant)
    k = params.ndcg_k
    new, start, after = coordinate_ascent(feats, hits, n_rel, coef, k, nonnegative=popular)
    metrics = {"validation_users": len(n_rel), "validation_ndcg_start": start,
               "start": "logistic" if start_weights is None else "without_content",
               "validation_ndcg": after}  # fmt: skip
    if incumbent is not None and set(picked) <= set(incumbent.names):
        old_weights = _weights_by_name(incumbent, picked)
        old = pool_ndcg(feats, hits, n_rel, old_weights, k)
        metrics["validation_ndcg_incumbent"] = old
        if after < old * (1.0 + KEEP_MARGIN):
            new, metrics["kept_incumbent"] = old_weights, True
    weights = _weights_by_name(warm, names)
    weights[columns] = new
    return BlendWeights(list(names), weights, "learned", metrics)


def learn_cold_user_blends(
    model,  # noqa: ANN001 - backend.ml.hybrid.HybridRecommender fitted on the validation split
    histories: dict[int, tuple[np.ndarray, np.ndarray]],
    targets: dict[int, np.ndarray],
    users: list[int],
    warm: tuple[BlendWeights, BlendWeights],
    params,  # noqa: ANN001 - backend.ml.training.TrainParams
    rng: np.random.Generator,
    previous: ColdUserBlends | None = None,
) -> ColdUserBlends:
    """A blend per HISTORY_LENGTHS entry, with content (when the model has text) and without.

    `histories` are the validation users' training ratings in time order, `targets` the
    catalogue rows of their held-out movies, `warm` the (with, without content) warm blends.
    """
    if len(users) > MAX_USERS:
        users = sorted(rng.choice(users, size=MAX_USERS, replace=False).tolist())
    signals = list(model.signals(model.user(None, [], []), model.has_text))
    with_names = cold_user_names(warm[0].names, signals)
    base = [s for s in signals if not s.startswith("content_")]
    without_names = cold_user_names(warm[1].names, base)
    out = ColdUserBlends([], [], [])
    for length in HISTORY_LENGTHS:
        start = _weights_by_name(warm[0], with_names)
        pools = _collect(model, histories, targets, users, length, with_names, start, params, rng)
        if not pools.n_relevant:
            continue
        # Without content first (a logistic start); the blend with content starts from it,
        # content weights 0, so the ascent adds a content weight only where it ranks the
        # validation pools better (a fresh logistic start with content ended in another
        # optimum, better or worse than the one without on noise).
        blends, from_without = {}, None
        warm_columns = [j for j, n in enumerate(with_names) if not n.startswith("cold")]
        for names, blend, use_content in (
            (without_names, warm[1], False), (with_names, warm[0], True)
        ):  # fmt: skip
            columns = [with_names.index(n) for n in names if not n.startswith("cold")]
            incumbent = previous.pick(length, use_content) if previous else None
            learned = _learn_one(pools, with_names, columns, blend, params, incumbent, from_without)
            from_without = learned.weights[warm_columns]
            keep = [with_names.index(n) for n in names]
            blends[use_content] = BlendWeights(
                names, learned.weights[keep], "learned", learned.metrics
            )
        out.lengths.append(length)
        out.with_content.append(
            _content_where_it_helps(pools, blends[True], blends[False], params.ndcg_k)
        )
        chosen = out.with_content[-1]
        log.info(
            "cold-user blend, %d ratings: validation NDCG@%d %.4f with content, %.4f without%s",
            length, params.ndcg_k, chosen.metrics["validation_ndcg_with_content"],
            chosen.metrics["validation_ndcg_without_content"],
            " (content dropped)" if chosen.metrics.get("content_dropped") else "",
        )  # fmt: skip
        out.without_content.append(blends[False])
    return out


def _content_where_it_helps(
    pools: _Pools, with_content: BlendWeights, without: BlendWeights, k: int
) -> BlendWeights:
    """The with-content blend, unless it ranks the validation pools less than KEEP_MARGIN
    better than the blend without content: then that one (content weights 0). With a few
    ratings the story signals add little, and a blend that weighs them on noise served
    newcomers worse lists with embeddings than without (ml-100k, 3 ratings: NDCG@10 0.360
    against 0.376 with no margin; validation gains of 0.5-2% went with test ratios of
    0.993-1.004 with the aligned content signal)."""
    warm = [j for j, n in enumerate(with_content.names) if not n.startswith("cold")]
    names = [with_content.names[j] for j in warm]
    feats, hits = np.stack(pools.features)[:, :, warm], np.stack(pools.hits)
    n_rel = np.array(pools.n_relevant)
    own = pool_ndcg(feats, hits, n_rel, with_content.weights[warm], k)
    fallback = _weights_by_name(without, names)
    theirs = pool_ndcg(feats, hits, n_rel, fallback, k)
    metrics = {**with_content.metrics, "validation_ndcg_with_content": own,
               "validation_ndcg_without_content": theirs}  # fmt: skip
    if own > theirs * (1.0 + KEEP_MARGIN):
        return BlendWeights(with_content.names, with_content.weights, "learned", metrics)
    weights = with_content.weights.copy()
    weights[warm] = fallback
    metrics["content_dropped"] = True
    return BlendWeights(with_content.names, weights, "learned", metrics)
