"""The pruned text pass (backend.ml.text_pruning) ranks as the full pass does: the bound on the
text term never drops a row that belongs in the top n, the rows it computes are exact, and
without the residual term the bound is wrong (the property test has teeth)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from backend.ml import text_pruning
from backend.ml.content import ContentModel, matrix_moments
from backend.ml.scoring import Catalogue, ContentMatrices, nth_best_bound, top_n
from backend.ml.text_pruning import BASIS_DIMS, PRUNE_FROM_ROWS, pruned_text_z, text_basis
from tests.ml.test_blend_shortcuts import model  # noqa: F401 - the trained hybrid fixture

RNG = np.random.default_rng(5)
ROWS, DIMS = 3000, 384


def _text_model(rows: int = ROWS, dims: int = DIMS, seed: int = 0) -> ContentModel:
    """Unit vectors with a few strong directions and noise, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 24)) @ rng.normal(size=(24, dims))
    vectors = (latent + 2.0 * rng.normal(size=(rows, dims)) + 3.0).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    has_text = np.ones(rows, bool)
    has_text[:20] = False
    vectors[~has_text] = 0.0
    content = ContentMatrices(vectors, None, has_text, np.zeros(rows, bool))
    catalogue = Catalogue(np.arange(1, rows + 1), np.zeros(rows))
    return ContentModel("text", content).bind(catalogue)


def _full_z(text: ContentModel, profile: np.ndarray) -> np.ndarray:
    """The reference: every row's z-score by the same formula, from the full product."""
    mean, covariance = matrix_moments(text.content, text._matrix)
    p = profile.astype(np.float64)
    sigma = np.sqrt(p @ (covariance @ p))
    return (np.asarray(text._matrix @ profile, dtype=np.float64) - p @ mean) / sigma


def _trial(text: ContentModel, basis, rng) -> tuple[list[int], list[int], np.ndarray, int]:  # noqa: ANN001
    """(pruned top n, full top n, pruned z, rows computed) for a random user and blend."""
    rows = text._matrix.shape[0]
    profile = rng.normal(size=DIMS) + text._matrix[rng.integers(0, rows, 5)].sum(axis=0) * 3
    profile = (profile / np.linalg.norm(profile)).astype(np.float32)
    other = rng.normal(size=rows) * rng.uniform(0.5, 3.0)
    coefficient = rng.uniform(-0.5, 1.5) * np.where(rng.random(rows) < 0.1, 0.3, 1.0)
    n = int(rng.choice([1, 10, 50]))
    skip = rng.choice(rows, 40, replace=False)
    z = pruned_text_z(text, basis, profile, other, coefficient, n, skip)
    full = other + coefficient * _full_z(text, profile)
    pruned = other + coefficient * z
    computed = int(np.isfinite(z).sum())
    return top_n(pruned, n, skip).tolist(), top_n(full, n, skip).tolist(), z, computed


@pytest.mark.parametrize("threshold_rows", [text_pruning.THRESHOLD_ROWS, 0])
def test_pruned_top_n_is_the_full_top_n_on_random_data(
    monkeypatch: pytest.MonkeyPatch, threshold_rows: int
) -> None:
    """With no rows beyond n setting the threshold, the bound decides every other row."""
    monkeypatch.setattr(text_pruning, "THRESHOLD_ROWS", threshold_rows)
    text = _text_model()
    basis = text_basis(text)
    assert basis is not None and basis.head.shape[0] == basis.tail.shape[0] == ROWS
    assert basis.head.shape[1] + basis.tail.shape[1] == BASIS_DIMS
    computed = []
    for _ in range(60):
        pruned, full, z, count = _trial(text, basis, RNG)
        assert pruned == full
        computed.append(count)
    assert np.median(computed) < ROWS / 2  # the bound prunes, not only holds


def test_rows_computed_are_exact_and_the_rest_never_read() -> None:
    text = _text_model(seed=3)
    basis = text_basis(text)
    profile = text._matrix[100] + text._matrix[200]
    profile = (profile / np.linalg.norm(profile)).astype(np.float32)
    other = RNG.normal(size=ROWS)
    z = pruned_text_z(text, basis, profile, other, np.full(ROWS, 0.8), 10, np.array([100, 200]))
    done = np.isfinite(z)
    assert 10 <= done.sum() < ROWS and not done[[100, 200]].any()
    np.testing.assert_allclose(z[done], _full_z(text, profile)[done], rtol=1e-6, atol=1e-6)
    assert not pruned_text_z(text, basis, None, other, np.ones(ROWS), 10, np.array([])).any()


def test_the_bound_without_its_residual_term_drops_rows_of_the_top(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _text_model()
    basis = text_basis(text)
    rng = np.random.default_rng(9)
    # The threshold's rows are exact whatever the bound: with n of them only, the bound decides
    # every other row.
    monkeypatch.setattr(text_pruning, "THRESHOLD_ROWS", 0)
    for dropped in ("residual", "head_residual"):  # either step's residual term
        wrong = dataclasses.replace(basis, **{dropped: np.zeros(ROWS)}, slack=0.0)
        trials = (_trial(text, wrong, rng) for _ in range(30))
        assert any(pruned != full for pruned, full, *_ in trials), dropped


def test_small_catalogues_and_narrow_vectors_keep_the_full_pass() -> None:
    assert text_basis(_text_model(rows=PRUNE_FROM_ROWS - 1)) is None
    assert text_basis(_text_model(rows=PRUNE_FROM_ROWS, dims=2 * BASIS_DIMS - 1)) is None
    text = _text_model(rows=PRUNE_FROM_ROWS)
    assert text_basis(text) is text_basis(text)  # computed once per bound matrix


@pytest.mark.parametrize("diversity", [0.0, 0.4])
def test_hybrid_ranks_the_same_with_the_text_pass_pruned(
    model,  # noqa: ANN001, F811
    monkeypatch: pytest.MonkeyPatch,
    diversity: float,
) -> None:
    hybrid, data = model
    text, names = hybrid._content["content_text"], hybrid.blend_with_content.names
    assert text_pruning.prunable_basis(text, names) is None  # 52 rows: the full pass
    full = {}
    for user_id, (items, ratings) in data.by_user().items():
        user = hybrid.user(user_id, items, ratings)
        full[user_id] = hybrid.ranked(user, 5, diversity=diversity)
    monkeypatch.setattr(text_pruning, "PRUNE_FROM_ROWS", 1)
    monkeypatch.setattr(text_pruning, "BASIS_DIMS", 3)  # the test vectors have 8 dimensions
    monkeypatch.setattr(text_pruning, "HEAD_DIMS", 2)  # both steps of the bound
    assert text_pruning.prunable_basis(text, names) is not None
    assert text_pruning.prunable_basis(text, ["svd", "item_item"]) is None  # no text in the blend
    pruned_rows = 0
    for user_id, (items, ratings) in data.by_user().items():
        user = hybrid.user(user_id, items, ratings)
        ranking, expected = hybrid.ranked(user, 5, diversity=diversity), full[user_id]
        assert ranking.rows.tolist() == expected.rows.tolist()
        picks = ranking.rows
        np.testing.assert_allclose(ranking.scores[picks], expected.scores[picks], atol=1e-6)
        np.testing.assert_allclose(ranking.features[picks], expected.features[picks], atol=1e-6)
        assert hybrid.explain(user, picks, True, ranking.features) == hybrid.explain(
            user, picks, True, expected.features
        )
        pruned_rows += int(np.isnan(ranking.scores).sum())
        assert np.isfinite(hybrid.score(user)).all()  # `score` (no top n): the full pass
    assert pruned_rows > 0  # some rows were never scored


def test_every_row_that_may_be_picked_is_computed_when_few_remain() -> None:
    text = _text_model(rows=PRUNE_FROM_ROWS)
    basis = text_basis(text)
    profile = text._matrix[30] / np.linalg.norm(text._matrix[30])
    other = RNG.normal(size=PRUNE_FROM_ROWS)
    skip = np.r_[np.arange(PRUNE_FROM_ROWS - 5), -1, PRUNE_FROM_ROWS + 3]  # and rows outside
    z = pruned_text_z(text, basis, profile, other, np.ones(PRUNE_FROM_ROWS), 10, skip)
    left = list(range(PRUNE_FROM_ROWS - 5, PRUNE_FROM_ROWS))  # 5 rows left for a top 10
    assert np.flatnonzero(np.isfinite(z)).tolist() == left


def test_a_top_zero_computes_no_row() -> None:
    text = _text_model(seed=4)
    profile = text._matrix[70] / np.linalg.norm(text._matrix[70])
    other, skip = RNG.normal(size=ROWS), np.zeros(0, dtype=np.int64)
    z = pruned_text_z(text, text_basis(text), profile, other, np.ones(ROWS), 0, skip)
    assert np.isnan(z).all()


def test_blocks_of_nan_bounds_do_not_raise_the_threshold():
    """np.partition sorts NaN last: enough all-NaN blocks would make the threshold NaN and
    leave no row computed."""
    lower = np.linspace(0.0, 1.0, 4096)
    lower[:3000] = np.nan  # many whole blocks of NaN
    threshold = nth_best_bound(lower, 10)
    assert np.isfinite(threshold) and threshold <= np.sort(lower[3000:])[-10]


def test_a_model_ranking_over_candidates_builds_no_basis(
    model,  # noqa: ANN001, F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above candidates_min_items the blend is scored on candidate rows only (no text pass to
    prune): the basis (1 s and 256 MB at MovieLens-25M size) is not built at bind."""
    hybrid, _ = model
    monkeypatch.setattr(text_pruning, "PRUNE_FROM_ROWS", 1)
    monkeypatch.setattr(text_pruning, "BASIS_DIMS", 3)
    content = dataclasses.replace(hybrid.content, moments={})
    switched = dataclasses.replace(
        hybrid, size_policy=dataclasses.replace(hybrid.size_policy, candidates_min_items=1)
    ).bind(hybrid.catalogue, content)
    assert switched.candidates is not None
    assert not any(key[0] == "basis" for key in content.moments if isinstance(key, tuple))
    exhaustive = hybrid.bind(hybrid.catalogue, content)
    assert exhaustive.candidates is None
    assert any(key[0] == "basis" for key in content.moments if isinstance(key, tuple))


def _head_estimate(text: ContentModel, basis, profile: np.ndarray) -> np.ndarray:  # noqa: ANN001
    """Every row's first-step estimate of its z-score, as `pruned_text_z` makes it."""
    along = basis.directions.T @ profile.astype(np.float64)
    sigma = float(np.sqrt((along * along) @ basis.variances))
    heads = basis.head.shape[1]
    return (basis.head @ along[:heads].astype(np.float32)).astype(np.float64) / sigma


def _tight_blend(text: ContentModel, basis, profile, overshoot: int, top: float):  # noqa: ANN001
    """A blend where the text weighs only on the `overshoot` rows whose first-step estimates
    overshoot their exact z-scores most: their estimates score above `top`, their exact scores
    below it; every other row's bound is its exact score (text weight 0)."""
    exact = _full_z(text, profile)
    estimate = _head_estimate(text, basis, profile)
    over = np.argsort(-(estimate - exact))[:overshoot]
    other, coefficient = np.full(ROWS, -10.0), np.zeros(ROWS)
    coefficient[over] = 1.0
    other[over] = top - (estimate[over] + exact[over]) / 2
    assert (other[over] + exact[over] < top).all() and (other[over] + estimate[over] > top).all()
    return other, coefficient, exact, [r for r in range(ROWS) if r not in set(over)][:2]


def test_the_threshold_comes_from_exact_scores_not_estimates() -> None:
    """17 rows whose estimates beat the true second best (exact scores below it): a threshold
    from their estimates, or from their (n-1)-th best exact score, prunes the true second."""
    text = _text_model(seed=6)
    basis = text_basis(text)
    profile = text._matrix[[11, 22, 33, 44, 55]].sum(axis=0)
    profile = (profile / np.linalg.norm(profile)).astype(np.float32)
    other, coefficient, exact, (second, first) = _tight_blend(text, basis, profile, 17, 3.0)
    other[first] = 5.0
    other[second] = 3.0 - 1e-6  # below every overshooting estimate, above their exact scores
    for n in (1, 2):
        z = pruned_text_z(text, basis, profile, other, coefficient, n, np.zeros(0, np.int64))
        full = other + coefficient * exact
        assert top_n(other + coefficient * z, n).tolist() == top_n(full, n).tolist()
    assert top_n(full, 2).tolist() == [first, second]


def test_ties_at_a_value_float32_cannot_hold_are_both_computed() -> None:
    """Two rows tied at 1 + 2^-30 (no float32) with text weight 0: both reach the threshold."""
    text = _text_model(seed=7)
    basis = text_basis(text)
    profile = text._matrix[[25, 26, 27]].sum(axis=0)
    profile = (profile / np.linalg.norm(profile)).astype(np.float32)
    tie = 1.0 + 2.0**-30
    other, coefficient, exact, (a, b) = _tight_blend(text, basis, profile, 16, tie)
    other[a] = other[b] = tie
    z = pruned_text_z(text, basis, profile, other, coefficient, 1, np.zeros(0, np.int64))
    assert np.isfinite(z[[a, b]]).all()
    assert top_n(other + coefficient * z, 1).tolist() == top_n(other + coefficient * exact, 1)


def test_the_nth_exact_score_is_reached_by_n_rows_and_never_above_the_true_nth() -> None:
    rng = np.random.default_rng(8)
    for _ in range(50):
        exact = rng.normal(size=500)
        estimate = exact + rng.normal(size=500) * rng.uniform(0.0, 3.0)
        estimate[rng.choice(500, 60, replace=False)] = -np.inf  # never picked
        n = int(rng.choice([1, 5, 10, 40]))
        threshold = text_pruning._nth_exact_score(estimate, n, exact.__getitem__)
        pickable = np.sort(exact[np.isfinite(estimate)])
        assert threshold <= pickable[-n]
        assert (exact[np.isfinite(estimate)] >= threshold).sum() >= n
    assert text_pruning._nth_exact_score(estimate, 0, exact.__getitem__) == np.inf
    few = np.full(500, -np.inf)
    few[:3] = 1.0
    assert text_pruning._nth_exact_score(few, 5, exact.__getitem__) == -np.inf


def test_the_second_step_reads_the_next_directions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vectors whose variance decays slowly past the head (the tail's directions carry weight)
    and no rows beyond n setting the threshold: a second step estimating with the wrong
    directions drops rows of the top (16 of 40 lists when checked)."""
    monkeypatch.setattr(text_pruning, "THRESHOLD_ROWS", 0)
    rng = np.random.default_rng(0)
    vectors = (rng.normal(size=(ROWS, DIMS)) * np.exp(-np.arange(DIMS) / 60.0)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    content = ContentMatrices(vectors, None, np.ones(ROWS, bool), np.zeros(ROWS, bool))
    text = ContentModel("text", content).bind(Catalogue(np.arange(1, ROWS + 1), np.zeros(ROWS)))
    basis = text_basis(text)
    for _ in range(40):
        profile = vectors[rng.integers(0, ROWS, 3)].sum(axis=0)
        profile = (profile / np.linalg.norm(profile)).astype(np.float32)
        other, coefficient = rng.normal(size=ROWS) * 0.3, np.ones(ROWS)
        z = pruned_text_z(text, basis, profile, other, coefficient, 10, np.zeros(0, np.int64))
        full = other + coefficient * _full_z(text, profile)
        assert top_n(other + coefficient * z, 10).tolist() == top_n(full, 10).tolist()
