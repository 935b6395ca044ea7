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

from backend.ml.ann import VectorIndex, load_index
from backend.ml.base import Recommender, UserHistory
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue, top_n

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
