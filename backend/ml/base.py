"""The one model interface every recommender in backend.ml implements.

In the spirit of Cornac's `Recommender` and Surprise's `AlgoBase`: a model is fitted on
`Interactions` (raw ids), bound to a `Catalogue` (the one raw id <-> row mapping), scores every
catalogue row for a user at once, ranks, and saves to / loads from a plain directory (the
versioned store around that directory is the store's business).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue, top_n


@dataclass(frozen=True)
class UserHistory:
    """What a model knows of one user: the raw id (None for someone it was not trained on) and
    the rated movies as raw ids, catalogue rows (-1 where not in the catalogue) and ratings."""

    user_id: int | None
    item_ids: np.ndarray
    rows: np.ndarray
    ratings: np.ndarray

    @classmethod
    def of(
        cls,
        catalogue: Catalogue,
        user_id: int | None,
        item_ids,
        ratings,  # noqa: ANN001
    ) -> UserHistory:
        items = np.asarray(item_ids, dtype=np.int64)
        return cls(
            user_id,
            items,
            catalogue.positions(items),
            np.asarray(ratings, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.item_ids)


class Recommender(ABC):
    """fit / bind / score / rank / save / load; scores are one float per catalogue row."""

    name: str = "recommender"
    catalogue: Catalogue | None = None

    @classmethod
    @abstractmethod
    def fit(cls, data: Interactions, *args, catalogue: Catalogue | None = None, **params) -> Self:  # noqa: ANN002, ANN003
        """A model learned from `data`, bound to `catalogue` when given."""

    def bind(self, catalogue: Catalogue) -> Self:
        """A copy aligned with `catalogue` (cheap: gathers the model's arrays once)."""
        bound = copy.copy(self)
        bound.catalogue = catalogue
        bound._align(catalogue)
        return bound

    def _align(self, catalogue: Catalogue) -> None:  # noqa: B027 - optional hook
        """Cache catalogue-aligned arrays; models without per-item state need nothing."""

    @abstractmethod
    def score(self, user: UserHistory) -> np.ndarray:
        """One score per catalogue row (higher is better), for every row at once."""

    def rank(self, user: UserHistory, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
        """The k best catalogue rows, best first; the user's rated rows are always excluded."""
        skip = user.rows if exclude is None else np.r_[user.rows, np.asarray(exclude, np.int64)]
        return top_n(self.score(user), k, skip)

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the fitted state as files in `directory` (which exists)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Self:
        """Read what `save` wrote; bind to a catalogue before scoring."""
