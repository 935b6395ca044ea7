"""AnnCandidates: the ANN scale variant ranks like its inner model over its candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.ml.ann import ExactIndex
from backend.ml.base import Recommender, UserHistory
from backend.ml.candidates import AnnCandidates, CandidateSource
from backend.ml.scoring import Catalogue

# Six movies (raw ids 10..60), two factors each, and a per-movie bias.
FACTORS = np.array([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [-1.0, 0.0], [0.6, -0.8], [0.1, 0.2]])
BIAS = np.array([0.0, 0.1, 0.0, 0.5, 0.0, 0.3])
USERS = {1: np.array([1.0, 0.5]), 2: np.array([-0.2, 1.0])}


class FactorModel(Recommender):
    """score = factors @ user vector + bias: small enough to compute by hand."""

    name = "factors"

    def __init__(self, scores_subsets: bool = True) -> None:
        if scores_subsets:
            self.score_rows = self._score_rows

    @classmethod
    def fit(cls, data, *args, catalogue=None, **params):  # noqa: ANN001, ANN002, ANN003
        model = cls()
        return model.bind(catalogue) if catalogue is not None else model

    def score(self, user: UserHistory) -> np.ndarray:
        return FACTORS @ USERS[user.user_id] + BIAS

    def _score_rows(self, user: UserHistory, rows: np.ndarray) -> np.ndarray:
        return FACTORS[rows] @ USERS[user.user_id] + BIAS[rows]

    def save(self, directory: Path) -> None:
        (directory / "factors.txt").write_text("hand-built")

    @classmethod
    def load(cls, directory: Path) -> FactorModel:
        assert (directory / "factors.txt").read_text() == "hand-built"
        return cls()


CATALOGUE = Catalogue(np.array([10, 20, 30, 40, 50, 60]), np.zeros(6))


def _user(user_id: int, rated_ids=(), ratings=()) -> UserHistory:  # noqa: ANN001
    return UserHistory.of(CATALOGUE, user_id, list(rated_ids), list(ratings))


def _query(user: UserHistory) -> np.ndarray:
    return USERS[user.user_id].astype(np.float32)


def _ranker(n: int, always=None, inner: FactorModel | None = None) -> AnnCandidates:  # noqa: ANN001
    index = ExactIndex().build(FACTORS.astype(np.float32))  # ids are catalogue rows
    inner = (inner or FactorModel()).bind(CATALOGUE)
    return AnnCandidates(inner, [CandidateSource(index, _query, n)], always).bind(CATALOGUE)


def test_hand_computed_scores() -> None:
    # user 1: [1.0, 0.6, 1.1, -0.5, 0.2, 0.5]
    np.testing.assert_allclose(
        FactorModel().score(_user(1)), [1.0, 0.6, 1.1, -0.5, 0.2, 0.5], atol=1e-12
    )


@pytest.mark.parametrize("scores_subsets", [True, False], ids=["score_rows", "score"])
@pytest.mark.parametrize("user_id", [1, 2])
def test_rank_equals_exhaustive_rank_when_candidates_cover_everything(
    user_id: int, scores_subsets: bool
) -> None:
    ranker = _ranker(n=6, inner=FactorModel(scores_subsets))
    user = _user(user_id, rated_ids=[30], ratings=[4.0])
    for k in (1, 3, 5, 10):
        for exclude in (None, np.array([0])):
            expected = ranker.inner.rank(user, k, exclude=exclude)
            np.testing.assert_array_equal(ranker.rank(user, k, exclude=exclude), expected)
    np.testing.assert_array_equal(ranker.rank(user, 10), ranker.inner.rank(user, 10))


def test_rank_scores_only_the_candidates() -> None:
    # Nearest two rows to user 1's vector by inner product: row 2 (1.1), row 0 (1.0); row 5 is
    # always a candidate. The inner model would rank row 1 (0.6) above row 5 (0.5), but row 1 is
    # not a candidate; row 2 is rated.
    ranker = _ranker(n=2, always=np.array([5]))
    user = _user(1, rated_ids=[30], ratings=[5.0])
    np.testing.assert_array_equal(ranker.candidates(user), [0, 5])
    np.testing.assert_array_equal(ranker.rank(user, 3), [0, 5])
    scores = ranker.score(user)
    assert scores[0] == pytest.approx(1.0) and scores[5] == pytest.approx(0.5)
    assert np.isneginf(scores[[1, 2, 3, 4]]).all()


def test_a_source_without_a_query_adds_nothing() -> None:
    index = ExactIndex().build(FACTORS.astype(np.float32))
    ranker = AnnCandidates(
        FactorModel().bind(CATALOGUE), [CandidateSource(index, lambda user: None, 6)], [3, 4]
    ).bind(CATALOGUE)
    np.testing.assert_array_equal(ranker.rank(_user(1), 5), [4, 3])


def test_save_and_load_keep_the_ranking(tmp_path: Path) -> None:
    ranker = _ranker(n=2, always=np.array([5]))
    ranker.save(tmp_path)
    loaded = AnnCandidates.load(tmp_path, FactorModel, [_query]).bind(CATALOGUE)
    user = _user(1)
    np.testing.assert_array_equal(loaded.rank(user, 3), ranker.rank(user, 3))
    with pytest.raises(ValueError, match="1 candidate sources saved, 2 queries"):
        AnnCandidates.load(tmp_path, FactorModel, [_query, _query])
