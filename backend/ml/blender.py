"""Hybrid blender: per-user standardised signals combined with learned weights.

Each signal is standardised over the candidate movies of one user (z-scores), so signals on
different scales (predicted stars, co-occurrence votes, cosine similarities, log counts) become
comparable. The weights come from a logistic regression that tells held-out watched movies from
unwatched ones on a validation split (see backend.ml.training); they are saved with the model.
Movies without ratings in training ("cold") get their own weights for the signals they do have.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WARM_SIGNALS = (
    "svd",
    "item_item",
    "popularity",
    "metadata_popularity",
    "content_text",
    "content_image",
)
COLD_SIGNALS = ("content_text", "content_image", "metadata_popularity")
CONTENT_SIGNALS = ("content_text", "content_image")


def feature_names(signals: tuple[str, ...] | list[str]) -> list[str]:
    names = [s for s in WARM_SIGNALS if s in signals]
    names += ["cold"] + [f"cold_{s}" for s in COLD_SIGNALS if s in signals]
    return names


def standardise(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    std = values.std()
    if std < 1e-12:
        return np.zeros_like(values)
    return (values - values.mean()) / std


def feature_matrix(
    signals: dict[str, np.ndarray], is_cold: np.ndarray, names: list[str]
) -> np.ndarray:
    """Columns in `names` order, standardised per user; cold columns only on cold movies."""
    z = {name: standardise(values) for name, values in signals.items()}
    cold = np.asarray(is_cold, dtype=np.float64)
    columns = []
    for name in names:
        if name == "cold":
            columns.append(cold)
        elif name.startswith("cold_"):
            columns.append(z[name[5:]] * cold)
        else:
            columns.append(z[name] * (1.0 - cold))
    return np.column_stack(columns) if columns else np.zeros((len(cold), 0))


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
            "popularity": 0.5,
            "metadata_popularity": 0.2,
            "content_text": 0.3,
            "content_image": 0.1,
            "cold": -1.0,
            "cold_content_text": 0.5,
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
