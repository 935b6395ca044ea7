"""The report's statistics on simulated event streams (no HTTP, so many seeds are cheap):
false-positive rate of identical variants, power and sign for different ones, interval
coverage, the bootstrap coverage metric and the sample-ratio check."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from backend.experiments import stats

SEEDS = 400


def _arm(rng: np.random.Generator, users: int, ctr: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-user (clicked lists, lists shown): users differ in how often they come back and in
    how likely they click (Beta-distributed propensity with mean `ctr`)."""
    shown = 1 + rng.poisson(3, users)
    propensity = rng.beta(2 * ctr / (1 - ctr), 2, users)
    return rng.binomial(shown, propensity), shown


def _p_values(rng: np.random.Generator, ctr_a: float, ctr_b: float, users: int = 300):
    out = []
    for _ in range(SEEDS):
        a = stats.ratio_estimate(*_arm(rng, users, ctr_a))
        b = stats.ratio_estimate(*_arm(rng, users, ctr_b))
        comparison = stats.compare(a, b)
        out.append((comparison.p_value, comparison.difference))
    return np.array(out)


def test_identical_variants_rarely_differ():
    results = _p_values(np.random.default_rng(1), 0.2, 0.2)
    false_positive_rate = np.mean(results[:, 0] < 0.05)
    assert 0.02 <= false_positive_rate <= 0.08, false_positive_rate


def test_a_better_variant_is_found_with_the_right_sign():
    results = _p_values(np.random.default_rng(2), 0.20, 0.28)
    detected = (results[:, 0] < 0.05) & (results[:, 1] > 0)
    wrong_sign = (results[:, 0] < 0.05) & (results[:, 1] < 0)
    assert detected.mean() > 0.8 and wrong_sign.sum() == 0


def test_ratio_interval_covers_the_truth_about_95_percent():
    rng = np.random.default_rng(3)
    truth = 0.3 * 4 / 4  # E[clicks] / E[shown] with independent propensity and visits
    covered = []
    for _ in range(SEEDS):
        estimate = stats.ratio_estimate(*_arm(rng, 200, 0.3))
        covered.append(estimate.low <= truth <= estimate.high)
    assert 0.92 <= np.mean(covered) <= 0.98


def test_degenerate_inputs_give_no_interval_rather_than_an_error():
    empty = stats.ratio_estimate(np.zeros(0), np.zeros(0))
    assert np.isnan(empty.value)
    single = stats.ratio_estimate(np.array([1.0]), np.array([2.0]))
    assert single.value == 0.5 and np.isnan(single.low)
    zero = stats.ratio_estimate(np.zeros(5), np.ones(5))
    assert stats.compare(zero, zero).p_value == 1.0
    assert np.isnan(stats.compare(empty, zero).p_value)


def test_coverage_and_its_bootstrap():
    rng = np.random.default_rng(4)
    users, movies = 50, 1000
    rows = np.repeat(np.arange(users), 3)
    cols = rng.integers(0, 400, users * 3)  # only the first 400 movies are ever shown
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(users, movies))
    value, replicates = stats.coverage_replicates(matrix, movies, rng)
    assert value == len(np.unique(cols)) / movies
    estimate = stats.bootstrap_estimate(value, replicates)
    assert 0 < estimate.se < 0.05 and estimate.low < value < estimate.high < 0.4


def test_sample_ratio_mismatch():
    assert stats.sample_ratio_mismatch([510, 490], [1, 1]) > 0.05
    assert stats.sample_ratio_mismatch([600, 400], [1, 1]) < 0.001
    assert stats.sample_ratio_mismatch([900, 100], [9, 1]) > 0.05
