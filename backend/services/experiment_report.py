"""The experiment report: per variant users, impressions, CTR, conversion, coverage and novelty
with 95% intervals, and each variant against the first (the control) with a two-sided test."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
from scipy import sparse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.experiments import stats
from backend.models import Experiment, FeedbackEvent, Impression, ImpressionItem, Movie, Rating
from backend.services import experiments as experiment_service
from backend.services.feedback import CONVERSION_RATING
from backend.services.impressions import flush_pending

ALPHA = 0.05
PRIMARY_METRIC = "ctr"
# Metrics where a larger value is better for the user (novelty and coverage are descriptive).
OUTCOME_METRICS = ("ctr", "conversion")


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _estimate_out(estimate: stats.Estimate) -> dict:
    return {k: _clean(v) for k, v in asdict(estimate).items()}


def _comparison_out(comparison: stats.Comparison) -> dict:
    out = {k: _clean(v) for k, v in asdict(comparison).items()}
    out["significant"] = out["p_value"] is not None and out["p_value"] < ALPHA
    return out


def _novelty_lookup(db: Session) -> tuple[np.ndarray, np.ndarray, float]:
    """Movie ids (sorted), their self-information -log2(share of raters who rated the movie),
    smoothed by one, and the value for a movie nobody rated."""
    raters = db.scalar(select(func.count(func.distinct(Rating.user_id)))) or 0
    rows = db.execute(
        select(Rating.movie_id, func.count()).group_by(Rating.movie_id).order_by(Rating.movie_id)
    ).all()
    counts = np.array(rows, dtype=float).reshape(-1, 2)
    novelty = -np.log2((counts[:, 1] + 1) / (raters + 1))
    return counts[:, 0].astype(int), novelty, -math.log2(1 / (raters + 1))


def _column(rows: list, k: int, dtype: type) -> np.ndarray:
    return np.array([row[k] for row in rows], dtype=dtype)


def _load(db: Session, experiment: Experiment) -> dict[str, np.ndarray]:
    """The experiment's impressions (by id), and the events and shown items of those only
    (rows written while the report runs belong to impressions it did not read)."""
    of_experiment = Impression.experiment_id == experiment.id
    impressions = db.execute(
        select(Impression.id, Impression.user_id, Impression.variant, Impression.forced)
        .where(of_experiment)
        .order_by(Impression.id)
    ).all()
    events = db.execute(
        select(FeedbackEvent.impression_id, FeedbackEvent.kind, FeedbackEvent.rating)
        .join(Impression, Impression.id == FeedbackEvent.impression_id)
        .where(of_experiment)
    ).all()
    items = db.execute(
        select(ImpressionItem.impression_id, ImpressionItem.movie_id)
        .join(Impression, Impression.id == ImpressionItem.impression_id)
        .where(of_experiment, Impression.forced.is_(False))
    ).all()
    ids = _column(impressions, 0, int)
    event_imp, item_imp = _column(events, 0, int), _column(items, 0, int)
    known_events, known_items = np.isin(event_imp, ids), np.isin(item_imp, ids)
    return {
        "ids": ids,
        "users": _column(impressions, 1, int),
        "variants": _column(impressions, 2, object),
        "forced": _column(impressions, 3, bool),
        "event_pos": np.searchsorted(ids, event_imp[known_events]),
        "event_kind": _column(events, 1, object)[known_events],
        "event_rating": np.array(
            [np.nan if row[2] is None else row[2] for row in events], dtype=float
        )[known_events],
        "item_pos": np.searchsorted(ids, item_imp[known_items]),
        "item_movie": _column(items, 1, int)[known_items],
    }


def build_report(db: Session, name: str, window_hours: float) -> dict:
    flush_pending()
    experiment = experiment_service.get(db, name)
    data = _load(db, experiment)
    catalogue_size = db.scalar(select(func.count(Movie.id))) or 1
    users, variants, forced = data["users"], data["variants"], data["forced"]
    n = len(data["ids"])

    def per_list(kind: str, min_rating: float = -np.inf) -> np.ndarray:
        """How many events of `kind` (with a rating of at least `min_rating`) each list got."""
        chosen = (data["event_kind"] == kind) & ~(data["event_rating"] < min_rating)
        return np.bincount(data["event_pos"][chosen], minlength=n).astype(float)

    clicks, views, dismissals = per_list("click"), per_list("detail_view"), per_list("dismiss")
    converted = per_list("rating", CONVERSION_RATING) > 0
    movie_ids, movie_novelty, unrated_novelty = _novelty_lookup(db)
    item_novelty = np.full(len(data["item_movie"]), unrated_novelty)
    if len(movie_ids):
        at = np.minimum(np.searchsorted(movie_ids, data["item_movie"]), len(movie_ids) - 1)
        found = movie_ids[at] == data["item_movie"]
        item_novelty[found] = movie_novelty[at[found]]
    item_imp = data["item_pos"]
    list_len = np.bincount(item_imp, minlength=n)
    novelty = np.bincount(item_imp, weights=item_novelty, minlength=n) / np.maximum(list_len, 1)

    rng = np.random.default_rng(0)
    per_variant, estimates = [], {}
    for variant in experiment.variants:
        mask = (variants == variant.name) & ~forced
        user_ids, user_idx = np.unique(users[mask], return_inverse=True)
        shown = np.bincount(user_idx, minlength=len(user_ids)).astype(float)

        def per_user(values: np.ndarray, m=mask, idx=user_idx, k=len(user_ids)) -> np.ndarray:
            return np.bincount(idx, weights=values[m], minlength=k)

        in_variant = mask[item_imp]
        user_of_item = np.searchsorted(user_ids, users[item_imp[in_variant]])
        matrix = sparse.csr_matrix(
            (np.ones(in_variant.sum()), (user_of_item, data["item_movie"][in_variant])),
            shape=(len(user_ids), int(data["item_movie"].max(initial=0)) + 1),
        )
        coverage, replicates = stats.coverage_replicates(matrix, catalogue_size, rng)
        estimates[variant.name] = {
            "impressions_per_user": stats.mean_estimate(shown),
            "ctr": stats.ratio_estimate(per_user((clicks > 0).astype(float)), shown),
            "conversion": stats.ratio_estimate(per_user(converted.astype(float)), shown),
            "novelty": stats.ratio_estimate(per_user(novelty), shown),
            "coverage": stats.bootstrap_estimate(coverage, replicates),
        }
        per_variant.append(
            {
                "name": variant.name,
                "method": variant.method,
                "share": variant.share,
                "users": len(user_ids),
                "impressions": int(mask.sum()),
                "forced_impressions": int(((variants == variant.name) & forced).sum()),
                "clicks": int(clicks[mask].sum()),
                "detail_views": int(views[mask].sum()),
                "dismissals": int(dismissals[mask].sum()),
                "conversions": int(converted[mask].sum()),
                "metrics": {k: _estimate_out(v) for k, v in estimates[variant.name].items()},
            }
        )

    control = experiment.variants[0].name
    comparisons = []
    for variant in experiment.variants[1:]:
        metrics = {
            metric: _comparison_out(stats.compare(estimates[control][metric], estimate))
            for metric, estimate in estimates[variant.name].items()
        }
        comparisons.append({"variant": variant.name, "control": control, "metrics": metrics})
    return {
        "experiment": experiment.name,
        "status": experiment.status,
        "started_at": experiment.started_at,
        "stopped_at": experiment.stopped_at,
        "confidence": stats.CONFIDENCE,
        "alpha": ALPHA,
        "attribution_window_hours": window_hours,
        "conversion_rating": CONVERSION_RATING,
        "primary_metric": PRIMARY_METRIC,
        "control": control,
        "sample_ratio_p_value": _clean(
            stats.sample_ratio_mismatch(
                [v["users"] for v in per_variant], [v.share for v in experiment.variants]
            )
        ),
        "variants": per_variant,
        "comparisons": comparisons,
        "winners": {metric: _winner(control, comparisons, metric) for metric in OUTCOME_METRICS},
    }


def _winner(control: str, comparisons: list[dict], metric: str) -> str | None:
    """The variant most significantly better than the control on `metric`; the control when
    every other variant is significantly worse; None when the data cannot tell."""
    results = [(c["variant"], c["metrics"][metric]) for c in comparisons]
    better = [
        (r["difference"], name) for name, r in results if r["significant"] and r["difference"] > 0
    ]
    if better:
        return max(better)[1]
    if results and all(r["significant"] and r["difference"] < 0 for _, r in results):
        return control
    return None
