"""Content aligned with collaborative structure: the "content_cf" signal.

The plain content signals (`content.ContentModel`) score a movie by the cosine of its story
with the user's taste profile; nothing in them says which stories the people who watched the
user's movies went on to watch. This model learns that from the warm movies of the training
data: a closed-form ridge map from each movie's content features f_j (its text embedding, its
z-scored log TMDB vote count and a constant) to the positive part of its column of the served
EASE matrix B (how strongly each watched movie votes for it),

    W = argmin sum_j ||B[:, j] - W f_j||^2 + l2 ||W||^2,  W = B F (F^T F + l2 I)^-1,

with F the features of EASE's movies. A movie's predicted column is W f_i, so a user's score
for movie i is their history vector times it: sum over rated movies h of W[h] . f_i = f_i . w_u,
w_u the sum of W's rows over the history. Movies without any rating (new in the catalogue) get
a score from their content alone, warm ones a content-smoothed EASE vote ("people who watched
your movies watch movies like this").

W is kept at rank ALIGNED_RANK (its truncated SVD, U S V^T): each movie's features are
projected once, at bind, to G = F V (catalogue x rank), and a request sums the rated movies'
rows of U S and takes one product with G, a sixth of a pass over the text matrix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse

from backend.ml.base import UserHistory
from backend.ml.content import ContentModel
from backend.ml.ids import IdLookup
from backend.ml.scoring import Catalogue, ContentMatrices

# Ridge strength and rank of the map, chosen on validation cold movies carved from the ml-100k
# and ml-latest-small training data only (l2 0.3, 1, 3, 10 tried: 1 and 3 within noise, 10
# worse; rank 32, 64, 128 and full within 0.004 Recall@10 of each other).
ALIGNED_L2 = 1.0
ALIGNED_RANK = 64
FILE = "aligned_content.npz"


def vote_feature(votes: np.ndarray, mean: float, std: float) -> np.ndarray:
    """log(1 + TMDB vote count), z-scored by the moments of the movies the map was fitted on."""
    return (np.log1p(np.maximum(votes, 0.0)) - mean) / std


def ridge_map(features: np.ndarray, columns: sparse.spmatrix | np.ndarray, l2: float) -> np.ndarray:
    """W = C F (F^T F + l2 I)^-1: row h of W maps content features to movie h's vote, fitted so
    that W f_j reproduces column j of C (`columns`: movies x movies, column j the target of the
    movie whose features are row j of `features`)."""
    f = np.asarray(features, dtype=np.float64)
    gram = f.T @ f
    gram[np.diag_indices_from(gram)] += l2
    products = np.asarray(columns @ f)  # (movies, features)
    return np.linalg.solve(gram, products.T).T


def positive_columns(weights: sparse.spmatrix, columns: np.ndarray) -> sparse.csc_matrix:
    """The positive part of B's `columns`: the watched movies that vote for each movie (EASE's
    negative weights, the movies whose watchers watch it less, are harder to tell from a story:
    on validation cold movies carved from ml-100k's training data the map fitted on them alone
    ranked at Recall@10 0.331 against 0.367 on the positive part)."""
    out = sparse.csc_matrix(weights)[:, columns].copy()
    out.data = np.maximum(out.data, 0.0)
    out.eliminate_zeros()
    return out


def movie_features(text: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """[text embedding, vote feature] per movie (the constant feature is left out: it adds the
    same to every movie's score and changes no ranking)."""
    return np.column_stack([np.asarray(text, dtype=np.float64), votes])


class AlignedContentModel(ContentModel):
    """The ridge map W over EASE's movies (`item_ids`), as `user_factors` (U S: one row per EASE
    movie) and `feature_basis` (V^T: rank x features)."""

    def __init__(
        self,
        item_ids: np.ndarray,
        user_factors: np.ndarray,
        feature_basis: np.ndarray,
        vote_moments: tuple[float, float],
        content: ContentMatrices | None = None,
    ) -> None:
        super().__init__("text", content)
        self.name = "content_cf"
        self.item_ids = np.asarray(item_ids, dtype=np.int64)
        self.user_factors = np.asarray(user_factors, dtype=np.float32)
        self.feature_basis = np.asarray(feature_basis, dtype=np.float64)
        self.vote_moments = (float(vote_moments[0]), float(vote_moments[1]))
        self._lookup = IdLookup(self.item_ids)

    @classmethod
    def fit(  # type: ignore[override]
        cls,
        items,  # noqa: ANN001 - backend.ml.item_model.ItemItemModel (the served EASE)
        catalogue: Catalogue,
        content: ContentMatrices | None,
        l2: float = ALIGNED_L2,
        rank: int = ALIGNED_RANK,
    ) -> AlignedContentModel | None:
        """The map from EASE's columns on the movies with a text embedding; None without text."""
        if content is None or content.text is None:
            return None
        rows = catalogue.positions(items.item_ids)
        known = rows >= 0
        known[known] = content.has_text[rows[known]]
        if not known.any():
            return None
        votes = catalogue.metadata_votes[rows[known]]
        log_votes = np.log1p(np.maximum(votes, 0.0))
        moments = (float(log_votes.mean()), float(log_votes.std()) or 1.0)
        features = movie_features(content.text[rows[known]], vote_feature(votes, *moments))
        features = np.column_stack([features, np.ones(len(features))])
        w = ridge_map(features, positive_columns(items.weights, np.flatnonzero(known)), l2)
        u, s, vt = np.linalg.svd(w[:, :-1], full_matrices=False)
        return cls(items.item_ids, u[:, :rank] * s[:rank], vt[:rank], moments, content)

    def with_content(self, content: ContentMatrices | None) -> AlignedContentModel:
        """This map over `content` (the index the service serves); bind it next."""
        return AlignedContentModel(
            self.item_ids, self.user_factors, self.feature_basis, self.vote_moments, content
        )

    def _align(self, catalogue: Catalogue) -> None:
        """G = F V: every catalogue movie's features in the map's rank-dimensional space."""
        super()._align(catalogue)
        # Each catalogue row's row of U S (-1: none), so a profile looks up only rated movies
        # outside the catalogue.
        self._positions = self._lookup(catalogue.item_ids)
        if self._matrix is None:
            return
        votes = vote_feature(catalogue.metadata_votes, *self.vote_moments)
        text_basis, vote_basis = self.feature_basis[:, :-1], self.feature_basis[:, -1]
        projected = np.asarray(self._matrix, dtype=np.float32) @ text_basis.T.astype(np.float32)
        projected += np.outer(votes, vote_basis).astype(np.float32)
        self._matrix = projected

    def profile(
        self,
        user: UserHistory,
        rated: tuple[np.ndarray, np.ndarray] | None = None,  # noqa: ARG002 - reads W, not E
    ) -> np.ndarray | None:
        """w_u in the map's space: the sum of U S's rows over the user's rated movies that EASE
        knows (every rated movie voting alike, as in EASE); None when there are none."""
        if not self.ready or len(user) == 0:
            return None
        outside = user.rows < 0
        known = self._positions[np.where(outside, 0, user.rows)]
        if outside.any():
            known[outside] = self._lookup(user.item_ids[outside])
        known = known[known >= 0]
        if known.size == 0:
            return None
        return np.add.reduce(self.user_factors[known], axis=0)

    def score(self, user: UserHistory) -> np.ndarray:
        profile = self.profile(user)
        if profile is None:
            return np.zeros(len(self.catalogue.item_ids), dtype=np.float32)
        return self._matrix @ profile

    def save(self, directory: Path) -> None:
        np.savez(
            directory / FILE, item_ids=self.item_ids, user_factors=self.user_factors,
            feature_basis=self.feature_basis, vote_moments=np.array(self.vote_moments),
        )  # fmt: skip

    @classmethod
    def load(cls, directory: Path) -> AlignedContentModel:
        with np.load(directory / FILE) as arrays:
            return cls(
                arrays["item_ids"], arrays["user_factors"], arrays["feature_basis"],
                tuple(arrays["vote_moments"]),
            )  # fmt: skip
