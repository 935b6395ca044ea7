"""Evaluation protocols: how ratings are split, who is ranked over what, and the metrics.

Every method is a fitted `Recommender` and every list comes from its `rank` (the hybrid's is
the one the API serves), so a figure here is the served recommender's.

* temporal (headline): each user's latest 20% of ratings held out; relevant = rated >= 4;
  ranked over every movie the user had not rated before.
* cold_users: 20% of users leave training; each keeps only their first 1, 3 or 5 ratings
  (folded in, as the service does for a new user) and is judged on the rest (rated >= 4).
* ms_split: Microsoft Recommenders' per-user random 75/25; every held-out movie is relevant.
* cold_items: 10% of movies lose every training rating; ranked among those movies only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backend.ml import metrics as M
from backend.ml.base import Recommender, UserHistory
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue

K = 10
RELEVANT_RATING = 4.0
OBSCURE_SUPPORT = 5


def user_lists(
    method: Recommender | Callable,
    catalogue: Catalogue,
    histories: dict[int, tuple[np.ndarray, np.ndarray]],
    users: list[int],
    candidates: np.ndarray | None = None,
    known_users: bool = True,
) -> list[np.ndarray]:
    """Each user's top-K catalogue rows; `candidates` restricts the pool (cold movies)."""
    rank = method.rank if isinstance(method, Recommender) else method
    out = []
    for u in users:
        items, ratings = histories.get(u, (np.zeros(0, np.int64), np.zeros(0)))
        user = UserHistory.of(catalogue, u if known_users else None, items, ratings)
        if candidates is None:
            out.append(rank(user, K))
        else:
            others = np.setdiff1d(np.arange(len(catalogue.item_ids)), candidates)
            out.append(rank(user, K, exclude=others))
    return out


def summarise(
    lists: list[np.ndarray],
    relevant: list[np.ndarray],
    support: np.ndarray,
    genres: list[set[str]] | None,
    n_users_train: int,
    warm_mask: np.ndarray | None = None,
) -> dict:
    """Accuracy (P/R/NDCG/MAP@10) and beyond-accuracy figures of one method's lists."""
    hits, n_rel = M.hit_matrix(lists, relevant, K)
    row = M.ranking_metrics(hits, n_rel, K)
    flat = np.concatenate([np.asarray(x, np.int64) for x in lists]) if lists else np.zeros(0, int)
    row["coverage"] = M.catalogue_coverage(lists, len(support))
    row["obscure_share"] = float((support[flat] < OBSCURE_SUPPORT).mean()) if flat.size else 0.0
    if warm_mask is not None and warm_mask.any():
        warm = [x for x, w in zip(lists, warm_mask, strict=True) if w]
        wflat = np.concatenate(warm) if warm else np.zeros(0, int)
        row["obscure_share_users_20plus"] = float((support[wflat] < OBSCURE_SUPPORT).mean())
    share = np.maximum(support[flat], 1.0) / max(n_users_train, 1)
    row["novelty"] = float(-np.log2(share).mean()) if flat.size else 0.0
    if genres is not None:
        row["genre_diversity"] = intra_list_diversity(lists, genres)
    row["users"] = int((n_rel > 0).sum())
    return row


def intra_list_diversity(lists: list[np.ndarray], genres: list[set[str]]) -> float:
    """Mean pairwise Jaccard distance of the genres within each list."""
    values = []
    for top in lists:
        sets = [genres[int(r)] for r in top]
        pairs = [
            1.0 - len(a & b) / max(len(a | b), 1) for i, a in enumerate(sets) for b in sets[i + 1 :]
        ]
        if pairs:
            values.append(np.mean(pairs))
    return float(np.mean(values)) if values else 0.0


def relevant_rows(
    catalogue: Catalogue, held: dict[int, tuple[np.ndarray, np.ndarray]], users: list[int],
    min_rating: float | None = RELEVANT_RATING,
) -> list[np.ndarray]:  # fmt: skip
    out = []
    for u in users:
        items, ratings = held[u]
        keep = np.ones(len(items), bool) if min_rating is None else ratings >= min_rating
        rows = catalogue.positions(items[keep])
        out.append(rows[rows >= 0])
    return out


def first_ratings(data: Interactions, n: int) -> np.ndarray:
    """Mask of each user's first `n` ratings by time (file order breaks ties)."""
    times = data.timestamps if data.timestamps is not None else np.arange(len(data))
    order = np.lexsort((np.arange(len(data)), times, data.user_ids))
    _, starts, counts = np.unique(data.user_ids[order], return_index=True, return_counts=True)
    rank = np.arange(len(data)) - np.repeat(starts, counts)
    mask = np.zeros(len(data), dtype=bool)
    mask[order] = rank < n
    return mask


def pairs_overlap(a: Interactions, b: Interactions) -> int:
    """How many (user, item) pairs of `b` also occur in `a` (0 for a leak-free split)."""
    base = int(max(a.item_ids.max(initial=0), b.item_ids.max(initial=0))) + 1
    key_a = a.user_ids.astype(np.int64) * base + a.item_ids
    key_b = b.user_ids.astype(np.int64) * base + b.item_ids
    return int(np.isin(key_b, key_a).sum())
