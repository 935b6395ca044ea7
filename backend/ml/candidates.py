"""The scale variant of any recommender: rank over ANN candidates instead of every movie.

At a million movies, scoring every row for every request costs tens of milliseconds. An
`AnnCandidates` wraps a recommender (the "inner" model) and, per user, asks each candidate
source's vector index (backend.ml.ann: text profile, SVD factors through the MIPS transform, ...)
for its nearest catalogue rows, adds rows that are always candidates (e.g. the most popular),
and scores only those with the inner model. It is itself a `Recommender`: the same fit / score /
rank / save / load, so the service, the evaluation and the benchmarks call it like any other.
With candidates that cover the catalogue its ranking is the inner model's exhaustive ranking.

    ranker = AnnCandidates(inner, [CandidateSource(text_index, text_query, 1000)], always=popular)
    rows = ranker.rank(user, k=10)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.ml.ann import VectorIndex, load_index, make_index, mips_augment, mips_query
from backend.ml.base import Recommender, UserHistory
from backend.ml.blender import feature_matrix
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel
from backend.ml.scoring import Catalogue, top_n
from backend.ml.size_policy import SizePolicy, serving_candidates

Query = Callable[[UserHistory], np.ndarray | None]
META_FILE = "candidates.json"


@dataclass
class CandidateSource:
    """A vector index whose ids are catalogue rows, how a user becomes a query vector to it
    (None: this source has nothing for the user) and how many rows to ask it for."""

    index: VectorIndex
    query: Query
    n: int


class AnnCandidates(Recommender):
    """`inner` ranked over the union of the sources' candidates and the `always` rows.

    The inner model scores a subset through `score_rows(user, rows)` when it has one (the point
    of the variant: cost grows with the candidates, not the catalogue), else through `score`.
    """

    name = "ann_candidates"

    def __init__(
        self,
        inner: Recommender,
        sources: Sequence[CandidateSource],
        always: np.ndarray | None = None,
    ) -> None:
        self.inner = inner
        self.sources = list(sources)
        self.always = np.zeros(0, np.int64) if always is None else np.asarray(always, np.int64)
        self.catalogue = inner.catalogue

    @classmethod
    def fit(  # type: ignore[override]
        cls,
        data: Interactions,
        *args,  # noqa: ANN002
        inner: type[Recommender],
        sources: Sequence[CandidateSource],
        always: np.ndarray | None = None,
        catalogue: Catalogue | None = None,
        **params,  # noqa: ANN003
    ) -> AnnCandidates:
        """Fit the inner model; the indexes are built over its catalogue rows by the caller."""
        return cls(inner.fit(data, *args, catalogue=catalogue, **params), sources, always)

    def bind(self, catalogue: Catalogue) -> AnnCandidates:
        bound = super().bind(catalogue)
        bound.inner = self.inner.bind(catalogue)
        return bound

    # ------------------------------------------------------------------ candidates and scores
    def candidates(self, user: UserHistory, exclude: np.ndarray | None = None) -> np.ndarray:
        """Sorted unique catalogue rows to score for this user (rated and excluded rows out)."""
        found = [self.always]
        for source in self.sources:
            query = source.query(user)
            if query is not None:
                ids, _ = source.index.candidates(query, source.n)
                found.append(np.asarray(ids, np.int64).ravel())
        rows = np.unique(np.concatenate(found))
        skip = user.rows if exclude is None else np.r_[user.rows, np.asarray(exclude, np.int64)]
        return rows[(rows >= 0) & ~np.isin(rows, skip)]

    def score_rows(self, user: UserHistory, rows: np.ndarray) -> np.ndarray:
        score_rows = getattr(self.inner, "score_rows", None)
        if score_rows is not None:
            return np.asarray(score_rows(user, rows), np.float64)
        return np.asarray(self.inner.score(user), np.float64)[rows]

    def score(self, user: UserHistory) -> np.ndarray:
        """The inner scores on this user's candidate rows, -inf elsewhere."""
        rows = self.candidates(user)
        scores = np.full(len(self.catalogue.item_ids), -np.inf)
        scores[rows] = self.score_rows(user, rows)
        return scores

    def rank(self, user: UserHistory, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """The k best candidate rows, best first; ties go to the lower row, as in `top_n`."""
        rows = self.candidates(user, exclude)
        return rows[top_n(self.score_rows(user, rows), k)]

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        """The inner model's files, each source's index in `candidates_<i>/` and the settings;
        the query functions are code, so `load` takes them again."""
        self.inner.save(directory)
        for i, source in enumerate(self.sources):
            source.index.save(directory / f"candidates_{i}")
        meta = {"n": [s.n for s in self.sources], "always": self.always.tolist()}
        (directory / META_FILE).write_text(json.dumps(meta))

    @classmethod
    def load(  # type: ignore[override]
        cls, directory: Path, inner: type[Recommender], queries: Sequence[Query]
    ) -> AnnCandidates:
        meta = json.loads((directory / META_FILE).read_text())
        if len(queries) != len(meta["n"]):
            raise ValueError(f"{len(meta['n'])} candidate sources saved, {len(queries)} queries")
        sources = [
            CandidateSource(load_index(directory / f"candidates_{i}"), query, n)
            for i, (query, n) in enumerate(zip(queries, meta["n"], strict=True))
        ]
        return cls(inner.load(directory), sources, np.asarray(meta["always"], np.int64))


# ---------------------------------------------------------------------- the served hybrid
# Arrays the same for every user: their top rows are candidates for everyone.
POPULAR_KINDS = ("popularity", "trending", "metadata_popularity")


@dataclass
class RowFeatures:
    """Blend features of some catalogue rows (sorted), indexed like the full feature matrix:
    `features[catalogue_rows]` (each of them scored) is what `HybridRecommender.explain` reads."""

    rows: np.ndarray
    values: np.ndarray

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.rows, rows)
        if at.max(initial=-1) >= len(self.rows) or not np.array_equal(self.rows[at], rows):
            raise KeyError("features asked for rows that were not scored")
        return self.values[at]


@dataclass
class BlendCandidates:
    """The hybrid's candidate path for large catalogues (switched on by backend.ml.size_policy).

    Per user, the rows to score are the union of `per_source` rows from each cheap signal: the
    best EASE scores (a sum over EASE's own items, which are few), the SVD's maximum inner
    products (an ANN index over [item factors, item base]), the content text profile's nearest
    stories (with embeddings) and the most popular, trending and voted-for movies (the same for
    everyone). Every blend feature is then computed on those rows only, standardised as the
    exhaustive path standardises it over the whole catalogue: EASE by its exact catalogue mean
    and deviation (zero outside its items), the popularity kinds by their precomputed z-scores,
    SVD and content by the mean and deviation over a fixed sample of `reference` rows (every
    row when the catalogue is no larger; the SVD bound to those movies and their content rows
    are gathered once, so each is one contiguous product). When the candidates cover the
    catalogue the ranking is the exhaustive one.
    """

    per_source: int
    always: np.ndarray  # the popular, trending and voted-for rows
    ease_rows: np.ndarray  # catalogue rows of EASE's items
    ease_positions: np.ndarray  # their positions among EASE's items
    ease_slot: np.ndarray  # catalogue row -> index into ease_rows (-1: not an EASE item)
    svd_reference: Recommender  # the SVD bound to the reference movies
    content_reference: dict[str, np.ndarray]  # content signal -> its reference rows' vectors
    svd_index: VectorIndex
    text_index: VectorIndex | None

    @classmethod
    def for_policy(cls, hybrid, policy: SizePolicy) -> BlendCandidates | None:  # noqa: ANN001
        """The candidate path for the bound `hybrid`, None where its catalogue is below the
        policy's `candidates_min_items` (every movie is scored)."""
        catalogue = hybrid.catalogue
        n = len(catalogue.item_ids)
        per_source = serving_candidates(n, policy)
        if per_source is None:
            return None
        popular = [top_n(hybrid.model(name).score(None), per_source) for name in POPULAR_KINDS]
        items = hybrid.model("item_item")
        ease_slot = np.full(n, -1)
        positions = items.positions(catalogue.item_ids)
        ease_rows = np.flatnonzero(positions >= 0)
        ease_slot[ease_rows] = np.arange(ease_rows.size)
        rng = np.random.default_rng(0)
        reference = np.sort(rng.choice(n, min(n, policy.candidates_reference_rows), False))
        svd = hybrid.model("svd")
        svd_reference = svd.bind(
            Catalogue(catalogue.item_ids[reference], catalogue.metadata_votes[reference])
        )
        matrices = {}  # text and watch profiles read the same matrix: gather it once
        for model in hybrid._content.values():
            matrices.setdefault(id(model._matrix), model._matrix[reference])
        content_reference = {
            name: matrices[id(model._matrix)] for name, model in hybrid._content.items()
        }
        ann = policy.candidates_ann_min_items
        # _base is mu + b_i per catalogue row, _factors q_i (zeros where SVD lacks the movie)
        factors, _ = mips_augment(np.column_stack([svd._factors, svd._base]))
        users = svd.pu[:64]
        tune = mips_query(np.column_stack([users, np.ones(len(users))]))
        options = {"method": "ivf", "nlist": max(1, int(np.sqrt(n))), "tune_queries": tune}
        svd_index = make_index("auto", n, ann, **options).build(factors)
        text_index = None
        if hybrid.has_text:
            text = hybrid.content
            rows = np.flatnonzero(text.has_text)
            options = {"method": "ivf", "nlist": max(1, int(np.sqrt(rows.size)))}
            text_index = make_index("auto", rows.size, ann, **options)
            text_index.build(text.text[rows], rows)
        return cls(
            per_source, np.unique(np.concatenate(popular)), ease_rows, positions[ease_rows],
            ease_slot, svd_reference, content_reference, svd_index, text_index,
        )  # fmt: skip

    def rows(
        self,
        hybrid,  # noqa: ANN001
        user: UserHistory,
        ease: np.ndarray,
        skip: np.ndarray,
        text_profile: np.ndarray | None,
    ) -> np.ndarray:
        """Sorted unique candidate rows for this user (`ease`: EASE's scores on `ease_rows`,
        `text_profile`: the content query, None without one), `skip` rows left out."""
        found = [self.always]
        if len(user):
            skipped = self.ease_slot[skip[skip >= 0]]
            found.append(self.ease_rows[top_n(ease, self.per_source, skipped)])
        vector = hybrid.model("svd").user_factors(user)
        if vector is not None:
            query = mips_query(np.append(np.asarray(vector[1], np.float32), 1.0))
            found.append(self.svd_index.candidates(query, self.per_source)[0])
        if text_profile is not None and self.text_index is not None:
            found.append(self.text_index.candidates(text_profile, self.per_source)[0])
        rows = np.unique(np.concatenate(found))
        return rows[(rows >= 0) & ~np.isin(rows, skip)]

    def blend(
        self,
        hybrid,  # noqa: ANN001 - the bound HybridRecommender
        user: UserHistory,
        exclude: np.ndarray | None,
        use_content: bool,
    ) -> tuple[RowFeatures, object, np.ndarray]:
        """(features of the candidate rows, the blend weights, scores over the catalogue with
        -inf outside the candidates): what `HybridRecommender.ranked` gets from `blend_features`
        on the exhaustive path."""
        from backend.ml.hybrid import COLLABORATIVE

        weights = hybrid.weights(use_content, len(user))
        needed = {name.removeprefix("cold_") for name in weights.names} - {"cold"}
        views = sorted(  # EASE and its views (item_item also proposes rows)
            name for name in needed | {"item_item"} if isinstance(hybrid.model(name), ItemItemModel)
        )
        ease = self._ease_scores([hybrid.model(name) for name in views], user)
        use_content = use_content and hybrid.has_text
        profiles = {  # each content profile once: it is a query and a signal
            name: model.profile(user)
            for name, model in hybrid._content.items()
            if name in needed or (use_content and name == "content_text")
        }
        skip = user.rows if exclude is None else np.r_[user.rows, np.asarray(exclude, np.int64)]
        rows = self.rows(hybrid, user, ease["item_item"], skip, profiles.get("content_text"))
        z = {name: self._z_rows(hybrid, name, user, rows, ease, profiles) for name in needed}
        shrink = hybrid._shrink[rows]
        for name in COLLABORATIVE:
            if name in z:
                z[name] = z[name] * shrink
        features = feature_matrix(
            z, hybrid.is_cold[rows], weights.names, standardised=True, missing=np.zeros(rows.size)
        )
        scores = np.full(len(hybrid.catalogue.item_ids), -np.inf)
        scores[rows] = weights.score(features)
        return RowFeatures(rows, features), weights, scores

    def _ease_scores(self, views: list[ItemItemModel], user: UserHistory) -> dict[str, np.ndarray]:
        """EASE-type signals (views of one B: plain, recency-weighted) on `ease_rows` (the rest
        of the catalogue scores 0), all from one pass over the rated movies' rows of B (the
        exhaustive path's `_vote_sums`: one product of those rows with the votes, in C)."""
        rated = views[0].positions(user.item_ids)
        mask = rated >= 0
        votes = []
        for view in views:
            weights = view.history_weights(user)
            votes.append(None if weights is None else weights[mask])
        sums = views[0]._vote_sums(rated[mask], votes)
        return {view.name: sums[j, self.ease_positions] for j, view in enumerate(views)}

    def _z_rows(
        self,
        hybrid,  # noqa: ANN001
        name: str,
        user: UserHistory,
        rows: np.ndarray,
        ease: dict[str, np.ndarray],
        profiles: dict[str, np.ndarray | None],
    ) -> np.ndarray:
        """Signal `name` on `rows`, standardised as over the whole catalogue."""
        if name in ease:  # exact catalogue moments: zero outside EASE's rows
            values, n = ease[name], len(hybrid.catalogue.item_ids)
            mean = values.sum() / n
            std = np.sqrt(max(float(values @ values) / n - mean * mean, 0.0))
            slot = self.ease_slot[rows]
            return _z(np.where(slot >= 0, values[np.maximum(slot, 0)], 0.0), mean, std)
        if name == "svd":
            reference = self.svd_reference.score(user)
            values = hybrid.model("svd").score_rows(user, rows)
            return _z(values, reference.mean(), reference.std())
        if name in hybrid._content:
            profile = profiles[name]
            if profile is None:  # the exhaustive path's all-zero cosines
                return np.zeros(rows.size)
            reference = self.content_reference[name] @ profile
            values = hybrid.model(name)._matrix[rows] @ profile
            return _z(values, reference.mean(dtype=np.float64), reference.std())
        # Any other signal (the popularity kinds: arrays standardised once per bound model)
        # exactly as the exhaustive path computes it.
        return hybrid._standardised(name, hybrid.model(name).score(user))[rows]


def _z(values: np.ndarray, mean: float, std: float) -> np.ndarray:
    """z-scores by a given mean and deviation, zeros for a constant signal (as
    `blender.standardise` does over the whole catalogue)."""
    values = np.asarray(values, np.float64)
    if std < 1e-12:
        return np.zeros_like(values)
    return (values - mean) / std
