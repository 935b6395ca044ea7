"""Collaborative reasons on a hand-set EASE matrix: the named movie is the liked one with the
largest B[X, pick], and it is named only when it is real evidence for the pick."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from backend.ml.blender import BlendWeights
from backend.ml.hybrid import Explanation, HybridRecommender
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel
from backend.ml.popularity import PopularityModel
from backend.ml.scoring import Catalogue
from backend.ml.svd import SVDModel

N = 40
IDS = np.arange(1, N + 1)
CATALOGUE = Catalogue(IDS, np.zeros(N))
A, C, D = 0, 1, 2  # positions of the rated movies 1 (5 stars), 2 (4 stars), 3 (2 stars)
PICK_TOP, PICK_WEAK, PICK_SHARED = 3, 4, 5  # movies 4, 5, 6


def _b() -> np.ndarray:
    b = np.zeros((N, N))
    b[A, [PICK_TOP, PICK_WEAK, PICK_SHARED]] = [0.5, 0.1, 0.05]
    b[C, [PICK_WEAK, PICK_SHARED]] = [0.2, 0.35]
    b[C, 6:12] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]  # six movies watched with 2 more than 5 and 6
    b[D, [PICK_TOP, PICK_WEAK]] = [3.0, 1.0]  # the disliked movie 3 votes most for 4 and 5
    return b


def _hybrid(b: np.ndarray | None = None) -> HybridRecommender:
    users = np.repeat(np.arange(3), N)
    data = Interactions(users, np.tile(IDS, 3), np.full(3 * N, 4.0))  # every movie has support
    items = ItemItemModel(IDS, sparse.csr_matrix(_b() if b is None else b), np.full(N, 3.0))
    weights = BlendWeights(["item_item"], np.array([1.0]))
    return HybridRecommender(
        SVDModel.fit(data), items, PopularityModel.fit(data), weights, weights
    ).bind(CATALOGUE)


def test_among_strongest_counts_the_movies_watched_more_with_the_source():
    items = ItemItemModel(IDS, sparse.csr_matrix(_b()), np.full(N, 3.0)).bind(CATALOGUE)
    # row of movie 2: 0.9 .. 0.4, then 0.35 (movie 6), then 0.2 (movie 5); unknown source: 0
    sources = np.array([A, C, C, C, D, -1])
    values = np.array([0.5, 0.2, 0.35, 0.9, 1.0, 5.0])
    larger = np.array([0, 7, 6, 0, 1, 0])  # how many weights in the source's row exceed each
    for n in range(1, 10):
        assert items.among_strongest(sources, values, n).tolist() == (larger < n).tolist(), n
    assert items.among_strongest(np.zeros(0, np.int64), np.zeros(0), 5).tolist() == []


def test_nth_largest_in_rows_matches_a_sort_of_each_row():
    rng = np.random.default_rng(3)
    b = sparse.random(60, 60, density=0.2, random_state=4, format="csr", dtype=np.float32)
    b.data[:] = rng.choice([-0.5, 0.1, 0.25, 0.7], b.nnz).astype(np.float32)  # ties too
    items = ItemItemModel(np.arange(1, 61), b, np.ones(60))
    dense = b.toarray()
    for n in (1, 5, 20):
        expected = [
            float(np.sort(dense[r, b[r].indices])[::-1][n - 1]) if b[r].nnz >= n else -np.inf
            for r in range(60)
        ]
        assert items.nth_largest_in_rows(n).tolist() == expected
        # fewer than n weights exceed v exactly when v >= the n-th largest
        values = rng.choice([-0.5, 0.1, 0.25, 0.7, 0.3], 60)
        counts = [(dense[r, b[r].indices] > values[r]).sum() for r in range(60)]
        among = items.among_strongest(np.arange(60), values, n)
        assert among.tolist() == (np.array(counts) < n).tolist()


def test_named_movie_is_the_top_liked_contributor_and_weak_evidence_is_not_named():
    hybrid = _hybrid()
    user = hybrid.user(7, [1, 2, 3], [5.0, 4.0, 2.0])
    picks = np.array([PICK_TOP, PICK_WEAK, PICK_SHARED])
    why = hybrid.explain(user, picks, use_content=False)
    # Movie 4: the liked movie 1 gives 0.5 of its 3.5 (share 0.14, the disliked movie 3 gives
    # the rest), but 4 is the movie most watched with 1 (rank 1 <= 5): "viewers of movie 1".
    assert why[0] == Explanation("collaborative", 0)
    # Movie 5: the top liked contributor is movie 2 (0.2 > 0.1), rank 8 in its row (> 5) and a
    # share of 0.2 / 1.3 = 0.15 < 0.25: no single movie to name, the generic reason.
    assert why[1] == Explanation("taste")
    # Movie 6: movie 2 gives 0.35 of 0.4 (share 0.875 >= 0.25) at rank 7 (<= 20): named.
    assert why[2] == Explanation("collaborative", 1)


def test_reason_thresholds_at_their_boundaries():
    b = np.zeros((N, N))
    b[A, 10:16] = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5]  # ranks 1-6 in the row of the liked movie 1
    b[D, [14, 15]] = 3.0  # the disliked movie 3 carries most of their evidence (share < 0.25)
    b[A, [20, 21]] = 0.25  # rank 7 in movie 1's row, share exactly 0.25 and just under it
    b[D, [20, 21]] = [0.75, 0.76]
    hybrid = _hybrid(b)
    user = hybrid.user(7, [1, 3], [5.0, 2.0])
    why = hybrid.explain(user, np.array([14, 15, 20, 21]), use_content=False)
    named, generic = Explanation("collaborative", 0), Explanation("taste")
    # Rank 5 is among the top neighbours, rank 6 is not (and its share is 0.17); a share of
    # exactly REASON_MIN_SHARE within the top 20 is named, one just under it is not.
    assert why == [named, generic, named, generic]
