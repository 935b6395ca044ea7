"""Popularity: how many people rated a movie (all time and recently), and priors that trust
vote counts rather than raw means."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.ml.base import Recommender, UserHistory
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue

# Ratings lose half their weight in the "trending" count every this many days.
TRENDING_HALF_LIFE_DAYS = 180.0


def bayesian_average(
    sums: np.ndarray, counts: np.ndarray, prior_mean: float, strength: float
) -> np.ndarray:
    """(strength * prior_mean + sum of ratings) / (strength + count), for every item at once."""
    counts = np.asarray(counts, dtype=np.float64)
    return (strength * prior_mean + np.asarray(sums, dtype=np.float64)) / (strength + counts)


@dataclass
class PopularityModel(Recommender):
    """log(1 + number of training ratings) per movie; `trending` decays old ratings instead.

    The counts are also the support every other signal is judged by (a movie with no training
    rating is "cold").
    """

    item_ids: np.ndarray
    counts: np.ndarray
    recent: np.ndarray
    trending: bool = False

    name = "popularity"

    def __post_init__(self) -> None:
        self.catalogue = None

    @classmethod
    def fit(  # type: ignore[override]
        cls,
        data: Interactions,
        catalogue: Catalogue | None = None,
        half_life_days: float = TRENDING_HALF_LIFE_DAYS,
    ) -> PopularityModel:
        ids, index = np.unique(data.item_ids, return_inverse=True)
        counts = np.bincount(index, minlength=len(ids)).astype(np.float64)
        if data.timestamps is not None and len(data):
            age_days = (data.timestamps.max() - data.timestamps) / 86400.0
            decay = np.exp2(-age_days / half_life_days)
            recent = np.bincount(index, weights=decay, minlength=len(ids))
        else:
            recent = counts.copy()
        model = cls(ids, counts, recent)
        return model.bind(catalogue) if catalogue is not None else model

    def as_trending(self) -> PopularityModel:
        """The same counts, scored by recency-weighted rating counts."""
        view = PopularityModel(self.item_ids, self.counts, self.recent, trending=True)
        view.name = "trending"
        return view.bind(self.catalogue) if self.catalogue is not None else view

    def _align(self, catalogue: Catalogue) -> None:
        slot = catalogue.positions(self.item_ids)
        ok = slot >= 0
        self.support = np.zeros(len(catalogue.item_ids))
        self.support[slot[ok]] = self.counts[ok]
        values = self.recent if self.trending else self.counts
        self._scores = np.zeros(len(catalogue.item_ids))
        self._scores[slot[ok]] = np.log1p(values[ok])

    def score(self, user: UserHistory) -> np.ndarray:  # noqa: ARG002 - the same for everyone
        return self._scores

    def save(self, directory: Path) -> None:
        np.savez(directory / "popularity.npz", ids=self.item_ids, counts=self.counts,
                 recent=self.recent)  # fmt: skip

    @classmethod
    def load(cls, directory: Path) -> PopularityModel:
        with np.load(directory / "popularity.npz") as arrays:
            recent = arrays["recent"] if "recent" in arrays else arrays["counts"]
            return cls(arrays["ids"], arrays["counts"].astype(np.float64), recent)


@dataclass
class MetadataPopularity(Recommender):
    """log(1 + TMDB vote count): known before anyone here rated the movie (helps new movies)."""

    name = "metadata_popularity"

    def __post_init__(self) -> None:
        self.catalogue = None

    @classmethod
    def fit(cls, data: Interactions | None = None, catalogue: Catalogue | None = None):  # type: ignore[override]  # noqa: ANN206, ARG003
        model = cls()
        return model.bind(catalogue) if catalogue is not None else model

    def _align(self, catalogue: Catalogue) -> None:
        self._scores = np.log1p(np.maximum(catalogue.metadata_votes, 0.0))

    def score(self, user: UserHistory) -> np.ndarray:  # noqa: ARG002 - the same for everyone
        return self._scores

    def save(self, directory: Path) -> None:
        """Nothing to write: the vote counts live in the catalogue."""

    @classmethod
    def load(cls, directory: Path) -> MetadataPopularity:  # noqa: ARG003
        return cls()
