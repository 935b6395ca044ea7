"""Train the hybrid: SVD, EASE item-item, popularity and blend weights learned on a temporal
validation split carved from the training data only."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from backend.ml.aligned_content import AlignedContentModel
from backend.ml.artifacts import new_version
from backend.ml.blender import (
    CONTENT_SIGNALS,
    KEEP_MARGIN,
    WARM_SIGNALS,
    BlendWeights,
    coordinate_ascent,
    feature_names,
    fit_logistic,
    keep_incumbent,
)
from backend.ml.cold_blend import ColdUserBlends, learn_cold_user_blends
from backend.ml.hybrid import POPULAR, RECENT_HALF_LIFE, HybridRecommender
from backend.ml.interactions import Interactions, distinct
from backend.ml.item_model import ItemItemModel
from backend.ml.metrics import ndcg_at_k, rmse
from backend.ml.popularity import PopularityModel
from backend.ml.scoring import Catalogue, ContentMatrices, top_n
from backend.ml.size_policy import (
    SizePlan,
    SizePolicy,
    most_recent_per_user,
    plan_for,
    sample_users,
)
from backend.ml.splits import validation_split
from backend.ml.stages import StageClock, blas_single_thread
from backend.ml.svd import SVDModel, SVDParams

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    svd: SVDParams = SVDParams()
    item_l2: float = 200.0
    item_max_items: int = 10000
    item_min_support: int = 3
    item_neighbours: int = 200
    # EASE's negative weights kept per item (besides the item_neighbours positive ones).
    item_negative_neighbours: int = 200
    validation_fraction: float = 0.2
    # The blend's validation split: "temporal" (each user's latest ratings: what they watch
    # next, as served) or "random" (gaps in the past: the MS Recommenders protocol's question).
    validation_split: Literal["temporal", "random"] = "temporal"
    # Held-out validation ratings the blend learns to put first: what users rated this or
    # higher next (liked, as the evaluation judges), not merely what they rated.
    target_rating: float = 4.0
    cold_item_fraction: float = 0.1
    blend_users: int = 1000
    # "ndcg": the logistic fit is refined by coordinate ascent on validation NDCG@k (the
    # offline evaluation showed the pointwise fit alone ranks below the item model by itself);
    # "logistic": the pointwise fit only.
    blend_objective: Literal["ndcg", "logistic"] = "ndcg"
    negatives_per_user: int = 100
    blend_l2: float = 1.0
    ndcg_k: int = 10
    ndcg_pool: int = 500
    seed: int = 42
    # Multiples of `item_l2` (the EASE ridge strength) to choose from on the validation split;
    # (1.0,) keeps `item_l2`. Each extra value costs one more item-model fit there.
    item_l2_factors: tuple[float, ...] = (1.0, 2.5)
    # Half-lives (in ratings) of the item_recent signal to choose from on the validation split.
    recent_half_lives: tuple[float, ...] = (5.0, 10.0, 20.0)
    # What switches above which size (backend.ml.size_policy; nothing below a few M ratings).
    size: SizePolicy = SizePolicy()


def fit_svd(data: Interactions, params: TrainParams, plan: SizePlan) -> SVDModel:
    """SVD on every rating, or above the size policy's cap on each user's most recent ones."""
    return SVDModel.fit(most_recent_per_user(data, plan.svd_ratings_per_user), params.svd)


def fit_item_model(
    data: Interactions, params: TrainParams, l2: float, plan: SizePlan | None = None
) -> ItemItemModel:
    return ItemItemModel.fit(
        data,
        l2=l2,
        max_items=plan.item_max_items if plan is not None else params.item_max_items,
        neighbours=params.item_neighbours,
        negative_neighbours=params.item_negative_neighbours,
        min_support=params.item_min_support,
    )


@dataclass
class _Validation:
    """The validation split of the training data and the models fitted on its training part."""

    model: HybridRecommender
    train_by_user: dict[int, tuple[np.ndarray, np.ndarray]]
    val_by_user: dict[int, tuple[np.ndarray, np.ndarray]]
    users: np.ndarray
    svd_rmse: float | None
    item_l2: float
    item_l2_scores: dict[str, float]
    simulated_cold: np.ndarray  # catalogue positions of movies whose ratings were hidden
    recent_half_life: float
    recent_half_life_scores: dict[str, float]
    cold_by_user: dict[int, np.ndarray]  # rows of each user's hidden simulated-cold ratings


def _validation_setup(
    data: Interactions,
    catalogue: Catalogue,
    content: ContentMatrices | None,
    params: TrainParams,
    rng: np.random.Generator,
    previous: HybridRecommender | None = None,
    plan: SizePlan | None = None,
    clock: StageClock | None = None,
) -> _Validation:
    plan = plan or plan_for(data, params.size, params.item_max_items)
    clock = clock or StageClock()
    served_l2 = previous.meta.get("item_l2") if previous is not None else None
    n_all = len(data)
    data = sample_users(data, plan.validation_max_ratings, rng)
    how, fraction = params.validation_split, params.validation_fraction
    train_mask, val_mask = validation_split(data, how, fraction, rng)
    items = distinct(data.item_ids)
    n_cold = int(len(items) * params.cold_item_fraction)
    cold_items = rng.choice(items, size=n_cold, replace=False) if n_cold else np.zeros(0, int)
    hidden = np.isin(data.item_ids, cold_items)
    train_mask &= ~hidden
    train, val = data.subset(train_mask), data.subset(val_mask)
    if len(train) == 0 or len(val) == 0:
        raise ValueError("not enough ratings to learn blend weights")
    train_by_user = train.by_user()
    val_by_user = val.subset(val.ratings >= params.target_rating).by_user()
    users = np.array(sorted(set(val_by_user) & set(train_by_user)))
    if len(users) > params.blend_users:
        users = np.sort(rng.choice(users, size=params.blend_users, replace=False))
    clock.done("validation_split")
    # The ridge strength scales with the amount of data (the Gram diagonal counts ratings), so a
    # full-data l2 is tried on the smaller validation-training set at its share.
    share = len(train) / max(n_all, 1)
    if plan.item_l2_grid:
        grid = sorted({params.item_l2 * f for f in params.item_l2_factors}) or [params.item_l2]
        fitted = [l2 * share for l2 in grid] if len(grid) > 1 else grid
    else:  # above the size policy's threshold: the served l2, at the share, no grid
        grid = [float(served_l2 or params.item_l2)]
        fitted = [grid[0] * share]
    scores: dict[str, float] = {}
    best = None
    # The item models (LAPACK, which releases the GIL) are fitted on a second thread, one after
    # the other, while this one fits the SVD and scores each finished model on validation.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="item-model") as pool:
        fits = [pool.submit(fit_item_model, train, params, l2, plan) for l2 in fitted]
        svd = fit_svd(train, params, plan)
        clock.done("validation_svd")
        popularity = PopularityModel.fit(train)
        for l2, fit in zip(grid, fits, strict=True):
            hybrid = HybridRecommender(
                svd, fit.result(), popularity,
                BlendWeights.default(WARM_SIGNALS), BlendWeights.default(WARM_SIGNALS),
                aligned=AlignedContentModel.fit(fit.result(), catalogue, content),
            ).bind(catalogue, content)  # fmt: skip
            if len(grid) == 1:
                best = (l2, hybrid, 0.0)
                break
            with blas_single_thread():
                scores[str(l2)] = _signal_ndcg(hybrid, train_by_user, val_by_user, users, params)[0]
            log.info("item model l2 %s: validation NDCG %.4f", l2, scores[str(l2)])
            # The served l2 counts KEEP_MARGIN better: a retrain must not flip it on noise.
            sticky = scores[str(l2)] * (1 + KEEP_MARGIN * (l2 == served_l2))
            if best is None or sticky > best[2]:
                best = (l2, hybrid, sticky)
    assert best is not None
    served_half_life = previous.meta.get("item_recent_half_life") if previous is not None else None
    hybrid, half_life, half_life_scores = _choose_recent_half_life(
        best[1], (train_by_user, val_by_user, users), params, served_half_life
    )
    clock.done("validation_item_model")
    holdout = val.subset(np.isin(val.item_ids, svd.item_ids))
    svd_rmse = None
    if len(holdout):
        svd_rmse = rmse(svd.predict_pairs(holdout.user_ids, holdout.item_ids), holdout.ratings)
    cold_pos = catalogue.positions(cold_items)
    return _Validation(
        hybrid, train_by_user, val_by_user, users, svd_rmse, best[0], scores,
        np.sort(cold_pos[cold_pos >= 0]), half_life, half_life_scores,
        {u: catalogue.positions(i) for u, (i, _) in data.subset(hidden).by_user().items()},
    )  # fmt: skip


def _choose_recent_half_life(hybrid, split, params, served):  # noqa: ANN001, ANN202
    """The item_recent half-life with the best validation NDCG@k of that signal alone (the
    served one counts KEEP_MARGIN better); returns the hybrid rebound with it."""
    views = [hybrid.model("item_item").as_recent(h) for h in params.recent_half_lives]
    with blas_single_thread():
        ndcg = _signal_ndcg(hybrid, *split, params, views)
    scores = {str(h): value for h, value in zip(params.recent_half_lives, ndcg, strict=True)}
    log.info("item_recent half-life: validation NDCG %s", scores)
    sticky = {h: scores[str(h)] * (1 + KEEP_MARGIN * (h == served))
              for h in params.recent_half_lives}  # fmt: skip
    best = max(sticky, key=sticky.get)
    hybrid.meta["item_recent_half_life"] = float(best)
    return hybrid.bind(hybrid.catalogue, hybrid.content), float(best), scores


def _signal_ndcg(hybrid, train_by_user, val_by_user, users, params, views=None) -> list[float]:  # noqa: ANN001
    """Validation NDCG@k of each view of EASE alone (EASE itself unless `views`) over the warm
    movies, every view scored from one pass over each user's rows of B."""
    views = views or [hybrid.model("item_item")]
    cold = np.flatnonzero(hybrid.is_cold)
    recs, relevant = [[] for _ in views], []
    for user in users:
        history = hybrid.user(int(user), *train_by_user[int(user)])
        positives = hybrid.catalogue.positions(val_by_user[int(user)][0])
        positives = positives[positives >= 0]
        skip = np.r_[history.rows, cold]
        for found, scores in zip(recs, views[0].score_views(history, views), strict=True):
            found.append(top_n(scores, params.ndcg_k, skip))
        relevant.append(positives[~hybrid.is_cold[positives]])
    return [ndcg_at_k(found, relevant, params.ndcg_k) for found in recs]


def learn_blend_weights(
    data: Interactions,
    catalogue: Catalogue,
    content: ContentMatrices | None,
    params: TrainParams,
    previous: HybridRecommender | None = None,
    plan: SizePlan | None = None,
    clock: StageClock | None = None,
    on_item_l2: Callable[[float], object] | None = None,
) -> tuple[BlendWeights, BlendWeights, float | None, ColdUserBlends]:
    """Fit the blend on a validation split of `data` (which must be training data only).

    Held-out watched movies are told from sampled unwatched ones by a logistic regression; with
    `blend_objective="ndcg"` those weights are the start of a coordinate ascent on the
    validation NDCG@k of each user's top-k among the movies they have not rated (warm weights
    over warm movies, cold weights over the cold movies alone). A share of movies loses all its
    training ratings so the cold-movie weights are learned too.
    Returns (weights with content, weights without content, held-out SVD RMSE, the cold-user
    blends of backend.ml.cold_blend); the metrics of
    each carry the validation NDCG before and after the ascent and the chosen EASE l2. With a
    `previous` model its weights and l2 stay unless new ones beat them by KEEP_MARGIN.
    `on_item_l2` is told the chosen EASE l2 before the blend is learned (train_hybrid starts
    the final item model's fit with it).
    """
    rng = np.random.default_rng(params.seed)
    clock = clock or StageClock()
    v = _validation_setup(data, catalogue, content, params, rng, previous, plan, clock)
    if on_item_l2 is not None:
        on_item_l2(v.item_l2)
    with blas_single_thread():
        learned = _learn_from_validation(v, catalogue, params, rng, previous)
    clock.done("blend_learning")
    return learned


def _learn_from_validation(
    v: _Validation,
    catalogue: Catalogue,
    params: TrainParams,
    rng: np.random.Generator,
    previous: HybridRecommender | None = None,
) -> tuple[BlendWeights, BlendWeights, float | None, ColdUserBlends]:
    hybrid = v.model
    signals_available = [s for s in WARM_SIGNALS if s not in CONTENT_SIGNALS]
    signals_available += [name for name in CONTENT_SIGNALS if name in hybrid._content]
    names_full = feature_names(signals_available)
    names_base = feature_names([s for s in signals_available if s not in CONTENT_SIGNALS])

    rows_full, rows_base, labels, weights = [], [], [], []
    n_items = len(catalogue.item_ids)
    kept_users, targets = [], {}
    for user in v.users:
        history = hybrid.user(int(user), *v.train_by_user[int(user)])
        signals = hybrid.signals(history, use_content=hybrid.has_text)
        positives = catalogue.positions(v.val_by_user[int(user)][0])
        positives = positives[positives >= 0]
        if positives.size == 0:
            continue
        kept_users.append(int(user))
        targets[int(user)] = positives
        excluded = np.zeros(n_items, dtype=bool)
        excluded[np.r_[history.rows[history.rows >= 0], positives]] = True
        pool = np.flatnonzero(~excluded)
        negatives = rng.choice(pool, size=min(params.negatives_per_user, pool.size), replace=False)
        picked = np.concatenate([positives, negatives])
        rows_full.append(hybrid.features(signals, names_full)[picked])
        rows_base.append(hybrid.features(signals, names_base)[picked])
        labels.append(np.r_[np.ones(positives.size), np.zeros(negatives.size)])
        # Each user counts once, however many movies they held out.
        weights.append(np.r_[np.full(positives.size, 1.0 / positives.size),
                             np.full(negatives.size, 1.0 / max(negatives.size, 1))])  # fmt: skip
    if not labels:
        raise ValueError("no validation user has a held-out movie in the catalogue")
    y, sw = np.concatenate(labels), np.concatenate(weights)
    sw *= len(sw) / sw.sum()
    trained_at = datetime.now(UTC).isoformat()
    out = []
    variants = ((names_full, rows_full, hybrid.has_text), (names_base, rows_base, False))
    for names, rows, use_content in variants:
        coef = fit_logistic(np.vstack(rows), y, l2=params.blend_l2, sample_weight=sw)[1:]
        # Popularity may not count against a movie: a negative weight lets movies one person
        # rated win (what a random split rewards and real use punishes).
        popular = np.isin(names, POPULAR)
        coef[popular] = np.maximum(coef[popular], 0.0)
        if "cold" in names:
            # Simulated cold movies are ordinary movies with their ratings hidden, so the fit can
            # credit "cold" with a popularity it will not have in service; never let it boost.
            position = names.index("cold")
            coef[position] = min(coef[position], 0.0)
        metrics = {"validation_users": int(len(kept_users)), "examples": int(len(y)),
                   "learned_at": trained_at, "objective": params.blend_objective,
                   "item_l2": v.item_l2, "item_recent_half_life": v.recent_half_life,
                   "item_recent_half_life_validation_ndcg": v.recent_half_life_scores}  # fmt: skip
        if v.item_l2_scores:
            metrics["item_l2_validation_ndcg"] = v.item_l2_scores
        if params.blend_objective == "ndcg":
            incumbent = None
            if previous is not None:
                old = previous.blend_with_content if use_content else previous.blend_without_content
                incumbent = old.weights if list(old.names) == list(names) else None
            coef, report = _ndcg_refine(v, kept_users, names, coef, use_content, params, incumbent)
            metrics.update(report)
        out.append(BlendWeights(names, coef, "learned", metrics))
    log.info(
        "blend weights learned on %d users: %s (%s)",
        len(kept_users),
        dict(zip(out[0].names, np.round(out[0].weights, 3).tolist(), strict=True)),
        {k: val for k, val in out[0].metrics.items() if k.startswith("validation_ndcg")},
    )
    cold_users = learn_cold_user_blends(
        hybrid, v.train_by_user, targets, kept_users, (out[0], out[1]), params, rng,
        previous.cold_users if previous is not None else None,
    )  # fmt: skip
    log.info("cold-user blends learned at history lengths %s", cold_users.lengths)
    return out[0], out[1], v.svd_rmse, cold_users


def _ndcg_refine(
    v: _Validation,
    users: list[int],
    names: list[str],
    coef: np.ndarray,
    use_content: bool,
    params: TrainParams,
    incumbent: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Coordinate ascent on validation NDCG@k, warm and cold weights apart; the `incumbent`
    weights of the serving model stay unless the new ones beat them by KEEP_MARGIN."""
    hybrid, k = v.model, params.ndcg_k
    warm_cols = [j for j, n in enumerate(names) if n != "cold" and not n.startswith("cold_")]
    cold_cols = [j for j, n in enumerate(names) if n.startswith("cold_")]
    # Cold weights rank the simulated cold movies for all who watched them (their hidden ratings:
    # who watches a new movie); warm weights rank warm movies, every cold movie left out.
    cold_pos = v.simulated_cold
    is_cold = hybrid.is_cold
    all_cold = np.flatnonzero(is_cold)
    n_pool = min(params.ndcg_pool, int((~is_cold).sum()))
    warm_f, warm_h, warm_n, cold_f, cold_h, cold_n = [], [], [], [], [], []
    start_warm = coef[warm_cols]
    for user in users:
        history = hybrid.user(user, *v.train_by_user[user])
        feats = hybrid.features(hybrid.signals(history, use_content), names)
        positives = hybrid.catalogue.positions(v.val_by_user[user][0])
        positives = positives[positives >= 0]
        relevant = np.zeros(len(feats), dtype=bool)
        relevant[positives] = True
        # Warm: each user's pool is the top of the starting blend over unrated warm movies.
        exclude = np.r_[history.rows, all_cold]
        n_warm = int((relevant & ~is_cold).sum())
        if n_warm and n_pool > 0:
            pool = top_n(feats[:, warm_cols] @ start_warm, n_pool, exclude)
            if pool.size == n_pool:
                warm_f.append(feats[np.ix_(pool, warm_cols)].astype(np.float32))
                warm_h.append(relevant[pool])
                warm_n.append(n_warm)
        watched_cold = np.isin(cold_pos, v.cold_by_user.get(user, ()))
        if cold_cols and cold_pos.size > k and watched_cold.any():
            cold_f.append(feats[np.ix_(cold_pos, cold_cols)].astype(np.float32))
            cold_h.append(watched_cold)
            cold_n.append(int(watched_cold.sum()))
    coef = coef.copy()
    report: dict = {}
    if warm_f:
        floor = np.isin(np.array(names)[warm_cols], POPULAR)
        w, before, after = coordinate_ascent(
            np.stack(warm_f), np.stack(warm_h), np.array(warm_n), start_warm, k, nonnegative=floor
        )
        coef[warm_cols] = keep_incumbent(
            w, after, incumbent, warm_cols, (warm_f, warm_h, warm_n), k, report, "warm", floor
        )
        report.update({"validation_ndcg_warm_logistic": before, "validation_ndcg_warm": after})
    if cold_f:
        floor = np.isin(np.array(names)[cold_cols], ["cold_" + n for n in POPULAR])
        w, before, after = coordinate_ascent(
            np.stack(cold_f), np.stack(cold_h), np.array(cold_n), coef[cold_cols], k,
            nonnegative=floor,
        )  # fmt: skip
        coef[cold_cols] = keep_incumbent(
            w, after, incumbent, cold_cols, (cold_f, cold_h, cold_n), k, report, "cold", floor
        )
        report.update({"validation_ndcg_cold_logistic": before, "validation_ndcg_cold": after})
    return coef, report


def train_hybrid(
    data: Interactions,
    catalogue: Catalogue,
    content: ContentMatrices | None,
    params: TrainParams | None = None,
    previous: HybridRecommender | None = None,
) -> HybridRecommender:
    """Blend weights on a validation split, then every model refitted on all of `data`.

    `previous` (the model being served) makes a retrain sticky: its blend weights and EASE l2
    stay unless the new ones are clearly better on validation.
    """
    params = params or TrainParams()
    started = time.perf_counter()
    clock = StageClock()
    plan = plan_for(data, params.size, params.item_max_items, len(catalogue.item_ids))
    item_l2 = params.item_l2
    # The final EASE fit (LAPACK and sparse products, which release the GIL) runs on a second
    # core while the blend is learned (numpy on one BLAS thread): it needs only the chosen l2.
    final_items: dict[float, Future] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="item-model") as pool:

        def start_item_model(l2: float) -> None:
            final_items[l2] = pool.submit(fit_item_model, data, params, l2, plan)

        try:
            with_content, without_content, holdout_rmse, cold_users = learn_blend_weights(
                data, catalogue, content, params, previous, plan, clock, start_item_model
            )
            item_l2 = float(with_content.metrics.get("item_l2", item_l2))
            half_life = with_content.metrics.get("item_recent_half_life", RECENT_HALF_LIFE)
        except ValueError as exc:
            log.warning("blend weights not learned (%s); using the default prior weights", exc)
            with_content = BlendWeights.default(WARM_SIGNALS)
            without_content = BlendWeights.default(
                [s for s in WARM_SIGNALS if s not in CONTENT_SIGNALS]
            )
            holdout_rmse, cold_users, half_life = None, None, RECENT_HALF_LIFE
        svd = fit_svd(data, params, plan)
        clock.done("svd")
        if item_l2 not in final_items:
            start_item_model(item_l2)
        items = final_items[item_l2].result()
    clock.done("item_model")
    popularity = PopularityModel.fit(data)
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
        "item_l2": item_l2,
        "item_recent_half_life": half_life,
        "size_policy": plan.as_meta(),
        "train_stages": clock.stages,
    }
    svd.meta.update({"version": meta["version"], "holdout_rmse": holdout_rmse})
    return HybridRecommender(
        svd, items, popularity, with_content, without_content, meta, cold_users, params.size,
        AlignedContentModel.fit(items, catalogue, content),
    ).bind(catalogue, content)  # fmt: skip
