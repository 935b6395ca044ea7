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


def _item_novelty(db: Session) -> tuple[dict[int, float], int]:
    """Self-information -log2(share of raters who rated the movie), smoothed by one."""
    raters = db.scalar(select(func.count(func.distinct(Rating.user_id)))) or 0
    counts = db.execute(select(Rating.movie_id, func.count()).group_by(Rating.movie_id)).all()
    return {movie: -math.log2((n + 1) / (raters + 1)) for movie, n in counts}, raters


def _load(db: Session, experiment: Experiment) -> dict[str, np.ndarray]:
    rows = db.execute(
        select(Impression.id, Impression.user_id, Impression.variant, Impression.forced).where(
            Impression.experiment_id == experiment.id
        )
    ).all()
    ids, users, variants, forced = (
        (np.array(col) for col in zip(*rows, strict=True))
        if rows
        else (
            np.zeros(0, int),
            np.zeros(0, int),
            np.zeros(0, object),
            np.zeros(0, bool),
        )
    )
    of_experiment = Impression.experiment_id == experiment.id
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
    return {
        "ids": ids.astype(int),
        "users": users.astype(int),
        "variants": variants.astype(object),
        "forced": forced.astype(bool),
        "events": events,
        "items": np.array(items, dtype=int).reshape(-1, 2),
    }


def build_report(db: Session, name: str, window_hours: float) -> dict:
    flush_pending()
    experiment = experiment_service.get(db, name)
    data = _load(db, experiment)
    novelty_of, raters = _item_novelty(db)
    catalogue_size = db.scalar(select(func.count(Movie.id))) or 1

    order = np.argsort(data["ids"])
    ids = data["ids"][order]
    users, variants, forced = data["users"][order], data["variants"][order], data["forced"][order]
    n = len(ids)

    def flags(kind: str, min_rating: float | None = None) -> np.ndarray:
        picked = np.array(
            [
                imp
                for imp, k, rating in data["events"]
                if k == kind and (min_rating is None or (rating or 0) >= min_rating)
            ],
            dtype=int,
        )
        out = np.zeros(n, dtype=float)
        picked = picked[np.isin(picked, ids)]  # written after the impressions were read
        np.add.at(out, np.searchsorted(ids, picked), 1.0)
        return out

    clicks, views, dismissals = flags("click"), flags("detail_view"), flags("dismiss")
    converted = flags("rating", CONVERSION_RATING) > 0
    items = data["items"][np.isin(data["items"][:, 0], ids)]
    item_imp = np.searchsorted(ids, items[:, 0])
    item_novelty = np.array([novelty_of.get(m, -math.log2(1 / (raters + 1))) for m in items[:, 1]])
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
            (np.ones(in_variant.sum()), (user_of_item, items[in_variant, 1])),
            shape=(len(user_ids), int(items[:, 1].max(initial=0)) + 1),
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
