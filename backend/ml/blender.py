"""Hybrid blender: per-user standardised signals combined with learned weights.

Each signal is standardised over the candidate movies of one user (z-scores), so signals on
different scales (predicted stars, co-occurrence votes, cosine similarities, log counts) become
comparable. The weights come from a logistic regression that tells held-out watched movies from
unwatched ones on a validation split, refined by coordinate ascent on that split's NDCG@10 (see
backend.ml.training and docs/evaluation); they are saved with the model.
Movies without ratings in training ("cold") get their own weights for the signals they do have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WARM_SIGNALS = (
    "svd",
    "item_item",
    "item_recent",
    "popularity",
    "trending",
    "metadata_popularity",
    "content_text",
    "content_image",
)
COLD_SIGNALS = (
    "content_text",
    "content_cf",
    "content_watch",
    "content_image",
    "metadata_popularity",
)
# A retrain keeps the previous blend weights (and EASE l2) unless new ones do at least this much
# better on validation NDCG: a few new ratings must not reshuffle everyone's list on noise. At 1%
# a retrain on 10 new ratings still took weights 2.5% "better" on 611 validation users, inside
# the noise, and user 1 kept 7 of 10 titles; 3% keeps the served blend on such noise.
KEEP_MARGIN = 0.03
CONTENT_SIGNALS = ("content_text", "content_cf", "content_watch", "content_image")


def feature_names(signals: tuple[str, ...] | list[str]) -> list[str]:
    """Warm signals apply to movies with training ratings, cold_* ones to movies without."""
    names = [s for s in WARM_SIGNALS if s in signals]
    names += ["cold"] + [f"cold_{s}" for s in COLD_SIGNALS if s in signals]
    return names


def standardise(values: np.ndarray) -> np.ndarray:
    """z-scores over all elements: the same numbers as (v - v.mean()) / v.std(), in three passes
    over one temporary (numpy's std centres the values a second time)."""
    values = np.asarray(values, dtype=np.float64)
    # np.add.reduce is what ndarray.mean and .sum reduce with, without their Python wrappers
    centred = values - np.add.reduce(values, axis=None) / values.size
    std = np.sqrt(np.add.reduce(np.multiply(centred, centred), axis=None) / values.size)
    if std < 1e-12:
        return np.zeros_like(values)
    return np.divide(centred, std, out=centred)


def feature_matrix(
    signals: dict[str, np.ndarray],
    is_cold: np.ndarray,
    names: list[str],
    standardised: bool = False,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    """Columns in `names` order, standardised per user; cold columns only on cold movies.

    `standardised` says the signals are z-scores already; a signal in `names` that is absent
    takes `missing` (zeros: it neither helps nor hurts), or raises KeyError without it.
    """
    z = signals if standardised else {name: standardise(v) for name, v in signals.items()}
    cold = np.asarray(is_cold, dtype=np.float64)
    warm = 1.0 - cold
    out = np.empty((len(cold), len(names)), order="F")  # written (and scored) by column
    for j, name in enumerate(names):
        if name == "cold":
            out[:, j] = cold
            continue
        base = name[5:] if name.startswith("cold_") else name
        values = z[base] if base in z or missing is None else missing
        np.multiply(values, cold if name.startswith("cold_") else warm, out=out[:, j])
    return out


@dataclass
class BlendWeights:
    names: list[str]
    weights: np.ndarray
    source: str = "default"
    metrics: dict = field(default_factory=dict)

    def score(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights

    def to_json(self) -> dict:
        return {
            "names": self.names,
            "weights": [float(w) for w in self.weights],
            "source": self.source,
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, data: dict) -> BlendWeights:
        return cls(
            list(data["names"]),
            np.asarray(data["weights"], dtype=np.float64),
            data.get("source", "learned"),
            data.get("metrics", {}),
        )

    @classmethod
    def default(cls, signals: tuple[str, ...] | list[str]) -> BlendWeights:
        """Used only until the first training run has learned weights (the model says so)."""
        prior = {
            "svd": 0.3,
            "item_item": 1.0,
            "item_recent": 0.5,
            "popularity": 0.5,
            "trending": 0.2,
            "metadata_popularity": 0.2,
            "content_text": 0.3,
            "content_cf": 0.3,
            "content_watch": 0.2,
            "content_image": 0.1,
            "cold": -1.0,
            "cold_content_text": 0.5,
            "cold_content_cf": 0.5,
            "cold_content_watch": 0.5,
            "cold_content_image": 0.1,
            "cold_metadata_popularity": 0.5,
        }
        names = feature_names(signals)
        return cls(names, np.array([prior[n] for n in names]), "default")


def fit_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
    iterations: int = 50,
) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; returns [bias, weights...]."""
    x = np.column_stack([np.ones(len(features)), features])
    y = np.asarray(labels, dtype=np.float64)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (sw * (p - y)) + penalty * w
        hessian = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w


def mmr_rerank(
    candidates: np.ndarray, relevance: np.ndarray, vectors: np.ndarray, n: int, strength: float
) -> np.ndarray:
    """Maximal marginal relevance: trade relevance for novelty against already picked movies.

    `strength` 0 keeps the relevance order; 1 picks by novelty alone. Loops over the n picks,
    never over the catalogue.
    """
    if strength <= 0 or len(candidates) <= 1:
        return candidates[:n]
    rel = standardise(relevance)
    picked = [0]
    max_sim = vectors @ vectors[0]
    remaining = np.ones(len(candidates), dtype=bool)
    remaining[0] = False
    while len(picked) < min(n, len(candidates)):
        gain = (1 - strength) * rel - strength * max_sim * 3.0
        gain[~remaining] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        remaining[best] = False
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return candidates[np.array(picked)]


def pool_ndcg(
    features: np.ndarray, hits: np.ndarray, n_relevant: np.ndarray, weights: np.ndarray, k: int
) -> float:
    """Mean NDCG@k of re-ranking each user's candidate pool by `features @ weights`.

    `features` is (users, pool, signals), `hits` (users, pool) marks held-out movies and
    `n_relevant` counts each user's held-out movies (also those outside the pool), so the ideal
    DCG is the true one. Vectorised over users.
    """
    if features.shape[0] == 0:
        return 0.0
    scores = features @ np.asarray(weights, dtype=features.dtype)
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    ranked_hits = np.take_along_axis(hits, np.take_along_axis(top, order, axis=1), axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (ranked_hits * discount).sum(axis=1)
    idcg = np.cumsum(discount)[np.clip(np.minimum(n_relevant, k), 1, k) - 1]
    return float((dcg / idcg).mean())


def coordinate_ascent(
    features: np.ndarray,
    hits: np.ndarray,
    n_relevant: np.ndarray,
    start: np.ndarray,
    k: int = 10,
    passes: int = 4,
    min_gain: float = 1e-4,
    nonnegative: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float]:
    """Weights that maximise pool NDCG@k, one coordinate at a time (RankLib-style).

    The largest starting weight stays fixed (the scale of the blend, which the logistic fit
    calibrated); every other weight moves in steps relative to it. A step is kept only when it
    gains at least `min_gain`, so noise in a small validation set does not pull the weights.
    Weights marked `nonnegative` never go below zero.
    Returns (weights, ndcg at start, ndcg at the end).
    """
    w = np.array(start, dtype=np.float64)
    if w.size == 0:
        return w, 0.0, 0.0
    floor = np.where(
        np.zeros(w.size, bool) if nonnegative is None else np.asarray(nonnegative), 0.0, -np.inf
    )
    w = np.maximum(w, floor)
    fixed = int(np.argmax(np.abs(w)))
    scale = abs(w[fixed]) or 1.0
    if w[fixed] == 0:
        w[fixed] = 1.0
    first = best = pool_ndcg(features, hits, n_relevant, w, k)
    steps = scale * np.array([0.5, 0.25, 0.1, 0.05, 0.02])
    for _ in range(passes):
        improved = False
        for j in range(w.size):
            if j == fixed:
                continue
            for step in steps:
                for sign in (1.0, -1.0):
                    trial = w.copy()
                    trial[j] = max(trial[j] + sign * step, floor[j])
                    value = pool_ndcg(features, hits, n_relevant, trial, k)
                    if value > best + min_gain:
                        best, w, improved = value, trial, True
        if not improved:
            break
    return w, first, best


class LinearBlend:
    """`feature_matrix(z, is_cold, names, standardised=True) @ weights` without the matrix.

    Each signal's weight becomes one vector over the catalogue rows (its warm weight on warm
    rows, its `cold_` weight on cold ones, times the signal's row `scale` where given), and the
    signals that are the same for every user (`fixed`, with the `cold` column) are summed once:
    a request adds one product per signal instead of writing and reading a column per feature.
    The sums differ from the matrix product only in rounding (the order of the additions).
    """

    def __init__(
        self,
        weights: BlendWeights,
        is_cold: np.ndarray,
        fixed: dict[str, np.ndarray],
        scale: dict[str, np.ndarray],
    ) -> None:
        cold = np.asarray(is_cold, dtype=np.float64)
        warm = 1.0 - cold
        w = dict(zip(weights.names, weights.weights, strict=True))
        bases = {name.removeprefix("cold_") for name in weights.names} - {"cold"}
        self.coefficients = {}
        for name in bases:
            coefficient = w.get(name, 0.0) * warm + w.get("cold_" + name, 0.0) * cold
            self.coefficients[name] = coefficient * scale[name] if name in scale else coefficient
        self.base = w.get("cold", 0.0) * cold
        for name, z in fixed.items():
            if name in self.coefficients:
                self.base += z * self.coefficients.pop(name)

    def score(
        self, z: dict[str, np.ndarray], on_rows: dict[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """The blend score of every row from the per-user z-scores (absent signals add 0); a
        signal in `on_rows` is added on those rows only (it is zero on the others)."""
        out = self.base.copy()
        term = np.empty_like(out)
        on_rows = on_rows or {}
        for name, coefficient in self.coefficients.items():
            if name in on_rows:
                rows = on_rows[name]
                out[rows] += z[name][rows] * coefficient[rows]
            elif name in z:
                out += np.multiply(z[name], coefficient, out=term)
        return out


def keep_incumbent(new, new_ndcg, incumbent, cols, pools, k, report, label, nonnegative=None):  # noqa: ANN001, ANN202
    """The incumbent's weights for `cols` unless `new` is KEEP_MARGIN better on the pools than
    the incumbent after the same ascent (`new` was tuned on these pools, so its NDCG there is
    optimistic; against the untuned incumbent, a retrain on 10 new ratings swapped the blend
    for 3.4% "better" weights and changed a quarter of ml-latest-small's lists). When that
    ascent itself gains KEEP_MARGIN, the incumbent has gone stale on the new data and its tuned
    form is served: it starts from the served weights, so lists move less than with `new`."""
    if incumbent is None:
        return new
    feats, hits, n_rel = (np.stack(pools[0]), np.stack(pools[1]), np.array(pools[2]))
    old_ndcg = pool_ndcg(feats, hits, n_rel, incumbent[cols], k)
    retuned, _, tuned = coordinate_ascent(
        feats, hits, n_rel, incumbent[cols], k, nonnegative=nonnegative
    )
    report[f"validation_ndcg_{label}_incumbent"] = old_ndcg
    report[f"validation_ndcg_{label}_incumbent_tuned"] = tuned
    if new_ndcg >= tuned * (1.0 + KEEP_MARGIN):
        return new
    if tuned >= old_ndcg * (1.0 + KEEP_MARGIN):
        report[f"retuned_incumbent_{label}"] = True
        return retuned
    report[f"kept_incumbent_{label}"] = True
    return incumbent[cols]
