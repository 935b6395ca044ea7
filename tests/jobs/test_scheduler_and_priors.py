"""Scheduler wiring, the popularity prior and diversity re-ranking."""

from __future__ import annotations

import numpy as np

from backend.jobs.scheduler import create_scheduler
from backend.ml.blender import mmr_rerank
from backend.ml.popularity import bayesian_average


def test_scheduler_jobs_never_overlap_and_coalesce(settings):
    requested = []
    scheduler = create_scheduler(settings, lambda kind, by: requested.append((kind, by)))
    scheduler.start(paused=True)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"rebuild_index", "retrain_models"}
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce is True
    assert jobs["rebuild_index"].trigger.interval.total_seconds() == (
        settings.embedding_rebuild_hours * 3600
    )
    # The schedule only requests jobs; the worker runs them.
    jobs["retrain_models"].func(*jobs["retrain_models"].args)
    assert requested == [("retrain", "schedule")]
    scheduler.shutdown(wait=True)


def test_bayesian_average_trusts_vote_counts():
    # One 5-star vote must not beat a hundred 4.5-star votes.
    scores = bayesian_average(
        np.array([5.0, 450.0, 0.0]), np.array([1, 100, 0]), prior_mean=3.5, strength=10
    )
    assert scores[1] > scores[0] > scores[2] == 3.5


def test_mmr_off_keeps_order_and_on_diversifies():
    vectors = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=np.float32)
    candidates = np.arange(4)
    relevance = np.array([4.0, 3.9, 3.8, 3.0])
    assert mmr_rerank(candidates, relevance, vectors, 2, 0.0).tolist() == [0, 1]
    diverse = mmr_rerank(candidates, relevance, vectors, 2, 0.7).tolist()
    assert diverse == [0, 3]
