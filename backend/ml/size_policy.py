"""What switches with the size of the training data.

Below every threshold (ml-latest-small, ml-100k, anything up to a few million ratings) no switch
is on and training is the small-data path unchanged. Above them the costs that grow faster than
the data are bounded (figures in docs/scaling.md):

- surprise's SVD builds a Python trainset (about 250 bytes a rating) and runs SGD linear in the
  ratings, twice per retrain: above `svd_max_ratings` it sees each user's most recent ratings,
  one per-user cap chosen so the total fits (light users keep all theirs, heavy users their
  recent taste);
- EASE inverts a dense items x items matrix (items^3): above `large_ratings` it keeps the
  `large_item_max_items` most rated movies, and the ridge strength is not chosen on a grid (each
  grid value is one more dense inverse): the served l2 (or `item_l2`) is reused, at the
  validation-training share of the data on the validation split;
- the validation split (where the blend is learned) only needs enough users to learn a handful of
  weights: above `validation_max_ratings` it holds randomly drawn users, all their ratings, up
  to that many ratings (with the same per-user SVD cap as the final fit, so the learned blend
  sees the SVD it will serve with).

Serving switches with the catalogue, not the ratings: from `candidates_min_items` movies the
hybrid ranks over candidates (backend.ml.candidates.BlendCandidates: the union of a few hundred
rows from cheap signals) instead of scoring every signal over every movie.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from backend.ml.interactions import Interactions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizePolicy:
    """The sizes at which training and serving switch to their large-catalogue paths."""

    svd_max_ratings: int = 5_000_000
    large_ratings: int = 2_000_000
    large_item_max_items: int = 10_000
    validation_max_ratings: int = 2_500_000
    # Serving: from this many catalogue movies the blend is scored over candidates only.
    candidates_min_items: int = 20_000
    candidates_per_source: int = 300  # rows each cheap signal proposes
    candidates_reference_rows: int = 2_000  # rows SVD and content are standardised on
    candidates_ann_min_items: int = 20_000  # faiss (when installed) instead of an exact scan


@dataclass(frozen=True)
class SizePlan:
    """The switches for one training set, logged and recorded in the model's meta."""

    n_ratings: int
    svd_ratings_per_user: int | None  # None: the SVD sees every rating
    item_max_items: int
    item_l2_grid: bool
    validation_max_ratings: int | None  # None: the validation split uses every user
    serving_candidates: int | None = None  # rows per candidate source; None: exhaustive

    def as_meta(self) -> dict:
        return asdict(self)


def plan_for(
    data: Interactions, policy: SizePolicy, item_max_items: int, n_catalogue: int | None = None
) -> SizePlan:
    """The switches for `data` (and a catalogue of `n_catalogue` movies, by default the rated
    ones): all off below the policy's thresholds."""
    n = len(data)
    large = n > policy.large_ratings
    per_user = None
    if n > policy.svd_max_ratings:
        per_user = per_user_cap(
            np.unique(data.user_ids, return_counts=True)[1], policy.svd_max_ratings
        )
    plan = SizePlan(
        n_ratings=n,
        svd_ratings_per_user=per_user,
        item_max_items=min(item_max_items, policy.large_item_max_items)
        if large
        else item_max_items,
        item_l2_grid=not large,
        validation_max_ratings=(
            policy.validation_max_ratings if n > policy.validation_max_ratings else None
        ),
        serving_candidates=serving_candidates(
            data.n_items if n_catalogue is None else n_catalogue, policy, quiet=True
        ),
    )
    switched = plan.validation_max_ratings is not None or plan.serving_candidates is not None
    if per_user is not None or large or switched:
        log.info("large-data switches for %d ratings: %s", n, plan.as_meta())
    return plan


def serving_candidates(n_items: int, policy: SizePolicy, quiet: bool = False) -> int | None:
    """Rows per candidate source when a catalogue of `n_items` movies is ranked over candidates
    (logged unless `quiet`); None below `candidates_min_items`: every movie is scored."""
    if n_items < policy.candidates_min_items:
        return None
    if not quiet:
        log.info(
            "serving switch for %d catalogue movies: the blend ranks over candidates "
            "(%d rows per source, standardised on %d reference rows)",
            n_items, policy.candidates_per_source, policy.candidates_reference_rows,
        )  # fmt: skip
    return policy.candidates_per_source


def per_user_cap(counts: np.ndarray, max_total: int) -> int:
    """The largest per-user cap N with sum(min(count, N)) <= max_total (at least 1)."""
    low, high = 1, int(counts.max())
    while low < high:
        mid = (low + high + 1) // 2
        if np.minimum(counts, mid).sum() <= max_total:
            low = mid
        else:
            high = mid - 1
    return low


def most_recent_per_user(data: Interactions, cap: int | None) -> Interactions:
    """Each user's `cap` most recent ratings (the first `cap` in the given order without
    timestamps); `data` itself when `cap` is None."""
    if cap is None:
        return data
    newest_first = (
        -data.timestamps if data.timestamps is not None else np.arange(len(data), dtype=np.int64)
    )
    order = np.lexsort((newest_first, data.user_ids))
    users = data.user_ids[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    rank = np.arange(users.size) - np.repeat(starts, np.diff(np.r_[starts, users.size]))
    return data.subset(np.sort(order[rank < cap]))


def sample_users(
    data: Interactions, max_ratings: int | None, rng: np.random.Generator
) -> Interactions:
    """All ratings of randomly drawn users, as many as fit in `max_ratings`; `data` itself when
    `max_ratings` is None."""
    if max_ratings is None:
        return data
    users, counts = np.unique(data.user_ids, return_counts=True)
    order = rng.permutation(users.size)
    n = max(1, int(np.searchsorted(np.cumsum(counts[order]), max_ratings, side="right")))
    return data.subset(np.isin(data.user_ids, users[order[:n]]))
