"""The benchmark package: the report is rendered from measured figures only; the synthetic
MovieLens-25M-shaped data has the right shape."""

from __future__ import annotations

import numpy as np

from scripts.benchmarks import report
from scripts.benchmarks.retrain_scale import synthetic_ratings


def test_report_puts_figures_beside_targets_and_says_what_is_missing():
    results = {
        "http": {
            "with_cache": {"p50": 4.0, "p95": 12.5, "p99": 20.0, "errors": 0, "rps": 900},
            "with_shared_cache": {"p50": 5.0, "p95": 30.5, "p99": 40.0, "errors": 0, "rps": 800},
            "without_cache": {"p95": 75.0, "errors": 0, "worker_rss_mb": [420.0, 450.5]},
            "date": "2026-12-01T16:00:00+00:00",
            "command": "python scripts/benchmark.py http",
        },
        "cache_replay": {"hit_rate": 0.97},
    }
    text = report.render(results)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    lru = "HTTP P95, cache on, the embedded default (worker LRUs, one directory cache)"
    assert "12.5 ms | yes" in rows[lru]
    shared = next(row for name, row in rows.items() if name.startswith("HTTP P95, cache on, one"))
    assert "30.5 ms | **no**" in shared
    assert "75.0 ms | **no**" in rows["HTTP P95, cache disabled"]
    assert "0.97 | yes" in rows["Cache hit rate, steady replay with ratings arriving"]
    assert "450.5 MB | yes" in rows["Serving worker RSS (largest worker, ml-latest-small)"]
    assert "not measured | -" in rows["Retrain, MovieLens-25M-shaped, time"]
    assert "`python scripts/benchmark.py http`" in text


def test_synthetic_ratings_are_long_tailed_and_unique():
    data = synthetic_ratings(0.02)
    assert 3000 < np.unique(data.user_ids).size <= 3250
    assert len(data) > 0.8 * 0.02 * 25_000_095
    pairs = data.user_ids * 10**6 + data.item_ids
    assert np.unique(pairs).size == len(data)
    counts = np.sort(np.bincount(data.item_ids))[::-1]
    assert counts[: counts.size // 10].sum() / counts.sum() > 0.4  # a few movies carry most
    assert set(np.unique(data.ratings * 2)) <= set(range(1, 11))
