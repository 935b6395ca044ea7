"""Offline metrics: top-N ranking metrics with binary relevance, coverage and rating errors.

Ranking metrics take, for every user, the ranked recommended item ids and the relevant (held-out)
item ids. They follow Microsoft Recommenders' definitions:

* precision@k = hits in the top k / k
* recall@k = hits in the top k / |relevant|
* NDCG@k = DCG@k / IDCG@k with gain 1 / log2(rank + 1), IDCG over min(k, |relevant|) hits
* MAP@k = mean over users of sum_{hit ranks r <= k} precision@r / min(k, |relevant|)

Each returns the mean over users who have at least one relevant item. Everything is computed from
a (users x k) boolean hit matrix, so one call costs a few array operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def hit_matrix(
    recommended: Sequence[Sequence[int]] | np.ndarray,
    relevant: Sequence[Iterable[int]],
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(users x k) hits (True where the item at that rank is relevant) and |relevant| per user.

    Lists shorter than k are padded with misses; a user's duplicate relevant ids count once.
    """
    n_users = len(recommended)
    if len(relevant) != n_users:
        raise ValueError("recommended and relevant must have one entry per user")
    hits = np.zeros((n_users, k), dtype=bool)
    n_relevant = np.zeros(n_users, dtype=np.int64)
    for row, (recs, rel) in enumerate(zip(recommended, relevant, strict=True)):
        rel_arr = np.unique(np.asarray(list(rel) if not isinstance(rel, np.ndarray) else rel))
        n_relevant[row] = rel_arr.size
        top = np.asarray(recs)[:k]
        if top.size and rel_arr.size:
            hits[row, : top.size] = np.isin(top, rel_arr)
    return hits, n_relevant


def _valid(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    hits = np.asarray(hits, dtype=bool)[:, :k]
    n_relevant = np.asarray(n_relevant)
    keep = n_relevant > 0
    return hits[keep], n_relevant[keep]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else 0.0


def precision_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    h, _ = _valid(hits, n_relevant, k)
    return _mean(h.sum(axis=1) / k)


def recall_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    h, n = _valid(hits, n_relevant, k)
    return _mean(h.sum(axis=1) / n)


def ndcg_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    h, n = _valid(hits, n_relevant, k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (h * discount[: h.shape[1]]).sum(axis=1)
    idcg = np.cumsum(discount)[np.minimum(n, k) - 1] if n.size else np.zeros(0)
    return _mean(dcg / idcg)


def map_from_hits(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    h, n = _valid(hits, n_relevant, k)
    ranks = np.arange(1, h.shape[1] + 1)
    precision_at_rank = np.cumsum(h, axis=1) / ranks
    ap = (precision_at_rank * h).sum(axis=1) / np.minimum(n, k)
    return _mean(ap)


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> dict[str, float]:
    """precision@k, recall@k, ndcg@k and map@k from one hit matrix."""
    return {
        f"precision@{k}": precision_from_hits(hits, n_relevant, k),
        f"recall@{k}": recall_from_hits(hits, n_relevant, k),
        f"ndcg@{k}": ndcg_from_hits(hits, n_relevant, k),
        f"map@{k}": map_from_hits(hits, n_relevant, k),
    }


def precision_at_k(recommended, relevant, k: int) -> float:  # noqa: ANN001
    return precision_from_hits(*hit_matrix(recommended, relevant, k), k)


def recall_at_k(recommended, relevant, k: int) -> float:  # noqa: ANN001
    return recall_from_hits(*hit_matrix(recommended, relevant, k), k)


def ndcg_at_k(recommended, relevant, k: int) -> float:  # noqa: ANN001
    return ndcg_from_hits(*hit_matrix(recommended, relevant, k), k)


def map_at_k(recommended, relevant, k: int) -> float:  # noqa: ANN001
    return map_from_hits(*hit_matrix(recommended, relevant, k), k)


def catalogue_coverage(
    recommended: Sequence[Sequence[int]] | np.ndarray, n_catalogue: int
) -> float:
    """Share of the catalogue that appears in at least one user's recommendations."""
    if n_catalogue <= 0:
        return 0.0
    lists = [np.asarray(r).ravel() for r in recommended]
    if not lists:
        return 0.0
    return float(np.unique(np.concatenate(lists)).size / n_catalogue)


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    diff = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return float(np.sqrt(np.mean(diff**2))) if diff.size else float("nan")


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    diff = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return float(np.mean(np.abs(diff))) if diff.size else float("nan")
