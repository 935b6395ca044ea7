"""Item-to-item model learned from who rated what (EASE: a closed-form ridge regression).

Steck (2019): B = I - P diag(1 / diag P), P = (X^T X + l2 I)^-1, zero diagonal; a user's score for
item j is sum over rated items i of B[i, j].

It answers "people who watched these also watched", the strongest single top-N signal on
MovieLens. Its recency view (`as_recent`, the "item_recent" signal) weights each rated movie's
vote by how recently the user rated it: what people watch next follows what they watched last.
The dense item-item matrix is pruned to each item's strongest neighbours and kept as a sparse
matrix, so scoring a user is a sum of a few sparse rows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import _sparsetools

from backend.ml.base import Recommender, UserHistory
from backend.ml.ids import IdLookup
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue

# The blend signals EASE gives: every rated movie voting alike, and by recency (`as_recent`).
EASE_SIGNALS = ("item_item", "item_recent")


def recency_weights(n: int, half_life: float) -> np.ndarray:
    """The vote of each of n ratings in the order rated: 1 for the latest, halving every
    `half_life` ratings further back (n = 3, half_life = 1: 0.25, 0.5, 1)."""
    return np.exp2(-(n - 1 - np.arange(n, dtype=np.float64)) / half_life)


@dataclass
class ItemItemModel(Recommender):
    item_ids: np.ndarray
    weights: sparse.csr_matrix
    popularity: np.ndarray
    # None: every rated movie votes alike; else votes decay with recency (`as_recent`).
    half_life: float | None = None

    name = "item_item"

    def __post_init__(self) -> None:
        self._lookup = IdLookup(self.item_ids)
        self.catalogue = None
        # A user's scores are the product of their votes with their rows of B, done by scipy
        # in C: B's values in float64 (the sums are the float64 ones of adding the rows in
        # history order) sharing B's index arrays, plus an empty last column (a zero score for
        # movies B lacks). Reasons read B by column (a pick's voters), so a CSC copy too.
        n = len(self.item_ids)
        self._votes_matrix = sparse.csr_matrix(
            (self.weights.data.astype(np.float64), self.weights.indices, self.weights.indptr),
            shape=(n, n + 1),
        )
        self._by_column = self.weights.tocsc()
        self._nth_largest: dict[int, np.ndarray] = {}  # `nth_largest_in_rows`, by n

    @classmethod
    def fit(  # type: ignore[override]
        cls,
        data: Interactions,
        l2: float = 200.0,
        max_items: int = 10000,
        neighbours: int = 200,
        catalogue: Catalogue | None = None,
        min_support: int = 1,
        negative_neighbours: int = 0,
    ) -> ItemItemModel:
        """EASE over the `max_items` most rated movies with at least `min_support` ratings;
        each item keeps its `neighbours` largest positive weights and its `negative_neighbours`
        most negative ones (the movies whose watchers watch it less: EASE's other half).

        The inversion costs (items)^3: on ml-latest-small, movies with one or two ratings are
        half the items and seven eighths of the time, and they carry almost no co-rating signal.
        """
        items, item_index = np.unique(data.item_ids, return_inverse=True)
        counts = np.bincount(item_index, minlength=len(items)).astype(np.float64)
        keep = np.argsort(-counts, kind="stable")[:max_items]
        keep = keep[counts[keep] >= min_support]
        keep.sort()
        remap = np.full(len(items), -1)
        remap[keep] = np.arange(len(keep))
        users, user_index = np.unique(data.user_ids, return_inverse=True)
        col = remap[item_index]
        ok = col >= 0
        matrix = sparse.csr_matrix(
            (np.ones(int(ok.sum()), dtype=np.float32), (user_index[ok], col[ok])),
            shape=(len(users), len(keep)),
        )
        matrix.data[:] = 1.0
        gram = (matrix.T @ matrix).toarray().astype(np.float32, copy=False)
        gram[np.diag_indices_from(gram)] += l2
        precision = _spd_inverse(gram)
        # B[:, j] = -P[:, j] / P[j, j]; P is symmetric, so B's transpose is P scaled by rows:
        # each column of B becomes a contiguous row (pruned per row, in place, no copy of P).
        precision /= -np.diag(precision).copy()[:, None]
        precision[np.diag_indices_from(precision)] = 0.0
        pruned = _top_k_per_column(precision, neighbours, negative_neighbours)
        model = cls(item_ids=items[keep], weights=pruned, popularity=counts[keep])
        return model.bind(catalogue) if catalogue is not None else model

    def positions(self, item_ids: np.ndarray) -> np.ndarray:
        return self._lookup(item_ids)

    def score_model_items(
        self, rated_items: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores over the model's own items: a weighted sum of the rated items' sparse rows."""
        rated = self.positions(rated_items)
        mask = rated >= 0
        votes = None if weights is None else np.asarray(weights, dtype=np.float64)[mask]
        return self._vote_sums(rated[mask], [votes])[0, :-1]

    def _vote_sums(self, rated: np.ndarray, votes: list[np.ndarray | None]) -> np.ndarray:
        """(len(votes), items + 1): for each vote vector (None: all 1) over the rated
        positions (each in 0 .. items - 1: the kernels below do not check), the sum of their
        rows of B weighted by the votes; the last column is 0.

        One copy of those rows and one pass over their entries into dense sums (their
        transpose times the votes as columns): every sum adds the rows in history order, the
        float64 sums of a gather and a bincount bit for bit (all 610 ml-latest-small users
        checked) at about half the cost, with no first pass counting the output's entries as a
        sparse-by-sparse product makes. The two steps are scipy's own C kernels, called
        directly: `B[rated].T @ columns` runs the same two, and on a cache miss its index
        checks and matrix objects around them cost a third as much again (tests/ml checks the
        two agree)."""
        matrix = self._votes_matrix
        indptr = matrix.indptr
        rated = rated.astype(indptr.dtype, copy=False)
        offsets = np.zeros(rated.size + 1, dtype=indptr.dtype)
        np.cumsum(indptr[rated + 1] - indptr[rated], out=offsets[1:])
        indices = np.empty(int(offsets[-1]), dtype=matrix.indices.dtype)
        data = np.empty(indices.size, dtype=np.float64)
        _sparsetools.csr_row_index(
            rated.size, rated, indptr, matrix.indices, matrix.data, indices, data
        )
        columns = np.ones((rated.size, len(votes)))
        for j, v in enumerate(votes):
            if v is not None:
                columns[:, j] = v
        sums = np.zeros((matrix.shape[1], len(votes)))
        _sparsetools.csc_matvecs(
            matrix.shape[1], rated.size, len(votes), offsets, indices, data, columns, sums
        )
        return sums.T

    def score_items(
        self,
        rated_items: np.ndarray,
        item_ids: np.ndarray,
        weights: np.ndarray | None = None,
        target_positions: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores for `item_ids` (0 for items the model lacks); pass cached positions if known."""
        scores = self.score_model_items(rated_items, weights)
        target = self.positions(item_ids) if target_positions is None else target_positions
        return np.where(target >= 0, scores[np.maximum(target, 0)], 0.0)

    # ---------------------------------------------------------------- Recommender interface
    def _align(self, catalogue: Catalogue) -> None:
        self._rows = self.positions(catalogue.item_ids)
        # Each catalogue row's column of `_vote_sums`: its own, or the zero last one.
        self._columns = np.where(self._rows >= 0, self._rows, len(self.item_ids))

    def as_recent(self, half_life: float) -> ItemItemModel:
        """The same B, each rated movie's vote weighted by `recency_weights` (the user's
        history must be in the order rated, as `Interactions.by_user` and the service give it)."""
        view = copy.copy(self)
        view.half_life, view.name = float(half_life), "item_recent"
        return view

    def history_weights(self, user: UserHistory) -> np.ndarray | None:
        """Each rated movie's vote: None (all 1) or its recency weight."""
        return None if self.half_life is None else recency_weights(len(user), self.half_life)

    def user_positions(self, user: UserHistory) -> np.ndarray:
        """`positions(user.item_ids)` from the catalogue rows the history carries (a lookup
        only for rated movies outside the catalogue, which B may still hold)."""
        outside = user.rows < 0
        found = self._rows[np.where(outside, 0, user.rows)]
        if outside.any():
            found[outside] = self.positions(user.item_ids[outside])
        return found

    def score(self, user: UserHistory) -> np.ndarray:
        """Every rated movie votes with its row of B (ratings do not weigh: EASE is implicit)."""
        return self.score_views(user, [self])[0]

    def score_views(self, user: UserHistory, views: list[ItemItemModel]) -> list[np.ndarray]:
        """`score` of each view of this B (itself, `as_recent`) over the catalogue rows, from
        one product with the rated movies' rows: both EASE signals at the cost of one."""
        rated = self.user_positions(user)
        mask = rated >= 0
        votes = []
        for view in views:
            weights = view.history_weights(user)
            votes.append(None if weights is None else weights[mask])
        sums = self._vote_sums(rated[mask], votes)
        return list(np.take(sums, self._columns, axis=1))

    def contributions(
        self, user: UserHistory, rows: np.ndarray, sources: np.ndarray | None = None
    ) -> np.ndarray:
        """(rated movies x `rows`) matrix of B[rated, row]: what each rated movie adds; only the
        rated movies where the boolean mask `sources` is set (the others stay 0). Reads the
        picks' columns of B (their voters, a few hundred entries each), not the user's rows."""
        src = self.user_positions(user)
        if sources is not None:
            src = np.where(sources, src, -1)
        rated = np.flatnonzero(src >= 0)
        history_of = np.full(len(self.item_ids), -1)
        history_of[src[rated]] = rated
        dst = self._rows[rows]
        picks = np.flatnonzero(dst >= 0)
        indptr = self._by_column.indptr
        starts, lengths = indptr[dst[picks]], indptr[dst[picks] + 1] - indptr[dst[picks]]
        first = starts - np.cumsum(lengths) + lengths  # an entry's start minus its offset
        entries = np.repeat(first, lengths) + np.arange(lengths.sum())
        voter = history_of[self._by_column.indices[entries]]
        hit = voter >= 0
        out = np.zeros((len(user), len(rows)))
        out[voter[hit], np.repeat(picks, lengths)[hit]] = self._by_column.data[entries][hit]
        return out

    def among_strongest(self, sources: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
        """For each k, whether fewer than n weights in the row of B of the model's item
        `sources[k]` exceed `values[k]` (True for a source of -1, not in the model): a movie
        with weight values[k] there is among the n movies most watched with that item. A
        lookup of each row's n-th largest weight (`nth_largest_in_rows`), no pass over B."""
        sources = np.asarray(sources, dtype=np.int64)
        nth = self.nth_largest_in_rows(n)[np.maximum(sources, 0)]
        return (sources < 0) | (np.asarray(values) >= nth)

    def nth_largest_in_rows(self, n: int) -> np.ndarray:
        """Each row of B's n-th largest stored weight (as float64; -inf for a row with fewer
        than n): fewer than n weights in row r exceed v exactly when v >= it. Computed once per
        n for a B (its rows' negated weights padded with +inf into one array, partitioned in
        place: ~0.1 s on ml-latest-small), shared by its bound copies."""
        found = self._nth_largest.get(n)
        if found is None:
            indptr, data = self.weights.indptr, self.weights.data
            lengths = np.diff(indptr)
            rows = np.repeat(np.arange(lengths.size), lengths)
            width = max(int(lengths.max(initial=0)), n)
            padded = np.full((lengths.size, width), np.inf, dtype=self.weights.dtype)
            padded[rows, np.arange(data.size) - np.repeat(indptr[:-1], lengths)] = -data
            padded.partition(n - 1, axis=1)
            found = self._nth_largest[n] = -padded[:, n - 1].astype(np.float64)
        return found

    def save(self, directory: Path) -> None:
        sparse.save_npz(directory / "item_weights.npz", self.weights)
        np.savez(directory / "item_meta.npz", item_ids=self.item_ids, popularity=self.popularity)

    @classmethod
    def load(cls, directory: Path) -> ItemItemModel:
        weights = sparse.load_npz(directory / "item_weights.npz").tocsr()
        with np.load(directory / "item_meta.npz") as meta:
            return cls(item_ids=meta["item_ids"], weights=weights, popularity=meta["popularity"])


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix, computed in place: Cholesky factor
    and inverse from it (LAPACK potrf + potri: items^3 flops, against 2.3 items^3 for solving
    against the identity), the upper triangle mirrored to the lower."""
    potrf, potri = linalg.lapack.get_lapack_funcs(("potrf", "potri"), (matrix,))
    factor, info = potrf(matrix, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix not positive definite (potrf info {info})")
    inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"Gram matrix is singular (potri info {info})")
    _mirror_upper(inverse)
    return inverse


def _mirror_upper(matrix: np.ndarray, block: int = 1024) -> None:
    """Copy the upper triangle onto the lower, in place, a band of rows at a time."""
    for start in range(0, len(matrix), block):
        stop = start + block
        matrix[start:stop, :start] = matrix[:start, start:stop].T
        tile = matrix[start:stop, start:stop]
        tile[...] = np.triu(tile) + np.triu(tile, 1).T


def _top_k_per_column(transposed: np.ndarray, k: int, k_negative: int = 0) -> sparse.csr_matrix:
    """B with only the k largest positive weights of each column (the neighbours that vote for
    an item) and its `k_negative` most negative ones (those that vote against it), given B's
    transpose (row j holds column j: a contiguous partition per row). k >= items keeps B whole."""
    n = transposed.shape[0]
    if k >= n:
        return sparse.csr_matrix(transposed.T)
    rows, cols, values = [], [], []
    for count, sign in ((k, 1.0), (k_negative, -1.0)):
        if count <= 0:
            continue
        count = min(count, n)
        # A copy: a view would keep the whole n x n partition alive through the next pass.
        part = np.argpartition(-sign * transposed, count - 1, axis=1)[:, :count].copy()
        owner = np.broadcast_to(np.arange(n)[:, None], part.shape)
        found = transposed[owner, part]
        keep = sign * found > 0
        rows.append(part[keep])
        cols.append(owner[keep])
        values.append(found[keep])
    return sparse.csr_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
