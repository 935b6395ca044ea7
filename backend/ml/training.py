"""Train the whole model bundle: SVD, item-item model, popularity and learned blend weights."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from backend.ml.blender import (
    CONTENT_SIGNALS,
    WARM_SIGNALS,
    BlendWeights,
    feature_matrix,
    feature_names,
    fit_logistic,
)
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel
from backend.ml.scoring import Catalogue, ContentMatrices, ModelBundle, ScoringContext
from backend.ml.svd import SVDModel, SVDParams, new_version, rmse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    svd: SVDParams = SVDParams()
    item_l2: float = 200.0
    item_max_items: int = 10000
    item_neighbours: int = 200
    validation_fraction: float = 0.2
    cold_item_fraction: float = 0.1
    blend_users: int = 400
    negatives_per_user: int = 100
    blend_l2: float = 1.0
    seed: int = 42


def per_user_split(
    data: Interactions, fraction: float, rng: np.random.Generator, min_ratings: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, test): `fraction` of each user's ratings held out, stratified."""
    test = np.zeros(len(data), dtype=bool)
    order = np.argsort(data.user_ids, kind="stable")
    users, starts, counts = np.unique(data.user_ids[order], return_index=True, return_counts=True)
    for start, count in zip(starts, counts, strict=True):
        if count < min_ratings:
            continue
        rows = order[start : start + count]
        k = max(1, int(round(count * fraction)))
        test[rng.choice(rows, size=k, replace=False)] = True
    return ~test, test


def fit_base_models(
    data: Interactions, params: TrainParams
) -> tuple[SVDModel, ItemItemModel, np.ndarray, np.ndarray]:
    svd = SVDModel.fit(data, params.svd)
    items = ItemItemModel.fit(
        data, l2=params.item_l2, max_items=params.item_max_items, neighbours=params.item_neighbours
    )
    pop_ids, pop_counts = np.unique(data.item_ids, return_counts=True)
    return svd, items, pop_ids, pop_counts.astype(np.float64)


def learn_blend_weights(
    data: Interactions,
    catalogue: Catalogue,
    content: ContentMatrices | None,
    params: TrainParams,
) -> tuple[BlendWeights, BlendWeights, float | None]:
    """Fit the blend on a validation split: held-out watched movies vs. sampled unwatched ones.

    A share of movies loses all its training ratings so the cold-movie weights are learned too.
    Returns (weights with content, weights without content, held-out SVD RMSE).
    """
    rng = np.random.default_rng(params.seed)
    train_mask, val_mask = per_user_split(data, params.validation_fraction, rng)
    items = np.unique(data.item_ids)
    n_cold = int(len(items) * params.cold_item_fraction)
    cold_items = rng.choice(items, size=n_cold, replace=False) if n_cold else np.zeros(0, int)
    train_mask &= ~np.isin(data.item_ids, cold_items)
    train, val = data.subset(train_mask), data.subset(val_mask)
    if len(train) == 0 or len(val) == 0:
        raise ValueError("not enough ratings to learn blend weights")
    svd, item_model, pop_ids, pop_counts = fit_base_models(train, params)
    holdout = val.subset(np.isin(val.item_ids, svd.item_ids))
    svd_rmse = None
    if len(holdout):
        svd_rmse = rmse(svd.predict_pairs(holdout.user_ids, holdout.item_ids), holdout.ratings)
    fold_bundle = ModelBundle(
        svd,
        item_model,
        pop_ids,
        pop_counts,
        BlendWeights.default(WARM_SIGNALS),
        BlendWeights.default(WARM_SIGNALS),
    )
    ctx = ScoringContext(fold_bundle, catalogue, content)
    signals_available = ["svd", "item_item", "popularity", "metadata_popularity"]
    if ctx.has_text:
        signals_available.append("content_text")
    if ctx.has_real_image:
        signals_available.append("content_image")
    names_full = feature_names(signals_available)
    names_base = feature_names([s for s in signals_available if s not in CONTENT_SIGNALS])

    train_by_user = _group(train)
    val_by_user = _group(val)
    users = np.array(sorted(set(val_by_user) & set(train_by_user)))
    if len(users) > params.blend_users:
        users = rng.choice(users, size=params.blend_users, replace=False)
    rows_full, rows_base, labels, weights = [], [], [], []
    n_items = len(catalogue.item_ids)
    for user in users:
        rated, ratings = train_by_user[user]
        signals = ctx.user_signals(int(user), rated, ratings, use_content=ctx.has_text)
        positives = catalogue.positions(val_by_user[user][0])
        positives = positives[positives >= 0]
        if positives.size == 0:
            continue
        excluded = np.zeros(n_items, dtype=bool)
        excluded[signals.rated_positions[signals.rated_positions >= 0]] = True
        excluded[positives] = True
        pool = np.flatnonzero(~excluded)
        negatives = rng.choice(pool, size=min(params.negatives_per_user, pool.size), replace=False)
        picked = np.concatenate([positives, negatives])
        available = dict(signals.signals)
        full = feature_matrix(available, ctx.is_cold, names_full)[picked]
        base = feature_matrix(available, ctx.is_cold, names_base)[picked]
        rows_full.append(full)
        rows_base.append(base)
        labels.append(np.r_[np.ones(positives.size), np.zeros(negatives.size)])
        # Each user counts once, however many movies they held out.
        weights.append(
            np.r_[
                np.full(positives.size, 1.0 / positives.size),
                np.full(negatives.size, 1.0 / max(negatives.size, 1)),
            ]
        )
    y = np.concatenate(labels)
    sw = np.concatenate(weights)
    sw *= len(sw) / sw.sum()
    trained_at = datetime.now(UTC).isoformat()
    out = []
    for names, rows in ((names_full, rows_full), (names_base, rows_base)):
        coef = fit_logistic(np.vstack(rows), y, l2=params.blend_l2, sample_weight=sw)
        if "cold" in names:
            # Simulated cold movies are ordinary movies with their ratings hidden, so the fit can
            # credit "cold" with a popularity it will not have in service; never let it boost.
            position = names.index("cold") + 1
            coef[position] = min(coef[position], 0.0)
        out.append(
            BlendWeights(
                names,
                coef[1:],
                "learned",
                {
                    "validation_users": int(len(users)),
                    "examples": int(len(y)),
                    "learned_at": trained_at,
                },
            )
        )
    log.info(
        "blend weights learned on %d users: %s",
        len(users),
        dict(zip(out[0].names, np.round(out[0].weights, 3), strict=True)),
    )
    return out[0], out[1], svd_rmse


def train_bundle(
    data: Interactions,
    catalogue: Catalogue,
    content: ContentMatrices | None,
    params: TrainParams | None = None,
) -> ModelBundle:
    params = params or TrainParams()
    started = time.perf_counter()
    try:
        with_content, without_content, holdout_rmse = learn_blend_weights(
            data, catalogue, content, params
        )
    except ValueError as exc:
        log.warning("blend weights not learned (%s); using the default prior weights", exc)
        with_content = BlendWeights.default(WARM_SIGNALS)
        without_content = BlendWeights.default(
            [s for s in WARM_SIGNALS if s not in CONTENT_SIGNALS]
        )
        holdout_rmse = None
    svd, item_model, pop_ids, pop_counts = fit_base_models(data, params)
    meta = {
        "version": new_version(),
        "trained_at": datetime.now(UTC).isoformat(),
        "n_ratings": len(data),
        "n_users": data.n_users,
        "n_items": data.n_items,
        "holdout_rmse": holdout_rmse,
        "train_seconds": round(time.perf_counter() - started, 2),
        "content_version": content.version if content else None,
        "svd_params": params.svd.__dict__,
    }
    svd.meta.update({"version": meta["version"], "holdout_rmse": holdout_rmse})
    return ModelBundle(svd, item_model, pop_ids, pop_counts, with_content, without_content, meta)


def _group(data: Interactions) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    order = np.argsort(data.user_ids, kind="stable")
    users, starts, counts = np.unique(data.user_ids[order], return_index=True, return_counts=True)
    return {
        int(u): (data.item_ids[order[s : s + c]], data.ratings[order[s : s + c]])
        for u, s, c in zip(users, starts, counts, strict=True)
    }


def save_bundle(bundle: ModelBundle, directory: Path) -> None:
    bundle.svd.save(directory)
    bundle.items.save(directory)
    np.savez(
        directory / "popularity.npz", ids=bundle.popularity_ids, counts=bundle.popularity_counts
    )
    (directory / "blend.json").write_text(
        json.dumps(
            {
                "with_content": bundle.blend_with_content.to_json(),
                "without_content": bundle.blend_without_content.to_json(),
            },
            indent=2,
        )
    )
    (directory / "meta.json").write_text(json.dumps(bundle.meta, indent=2, default=str))


def load_bundle(directory: Path) -> ModelBundle:
    blend = json.loads((directory / "blend.json").read_text())
    with np.load(directory / "popularity.npz") as pop:
        ids, counts = pop["ids"], pop["counts"]
    return ModelBundle(
        svd=SVDModel.load(directory),
        items=ItemItemModel.load(directory),
        popularity_ids=ids,
        popularity_counts=counts,
        blend_with_content=BlendWeights.from_json(blend["with_content"]),
        blend_without_content=BlendWeights.from_json(blend["without_content"]),
        meta=json.loads((directory / "meta.json").read_text()),
    )
