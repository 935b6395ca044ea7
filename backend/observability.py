"""Prometheus metrics. Gauges about models and the index are filled at scrape time."""

from __future__ import annotations

import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECOMMENDATION_LATENCY = Histogram(
    "recommendation_duration_seconds",
    "Time to compute recommendations by method",
    ["method"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
LOGIN_FAILURES = Counter("login_failures_total", "Failed login attempts", registry=REGISTRY)
# Online feedback. `experiment` is "none" and `variant` the method when no experiment runs.
IMPRESSIONS = Counter(
    "recommendation_impressions_total",
    "Recommendation lists written to the impression log",
    ["experiment", "variant"],
    registry=REGISTRY,
)
IMPRESSIONS_DROPPED = Counter(
    "recommendation_impressions_dropped_total",
    "Impressions not recorded (queue full or the write failed)",
    ["reason"],
    registry=REGISTRY,
)
CLICKS = Counter(
    "recommendation_clicks_total",
    "Clicks on recommended movies",
    ["experiment", "variant"],
    registry=REGISTRY,
)
CONVERSIONS = Counter(
    "recommendation_conversions_total",
    "Ratings of 4 stars or more attributed to a recommendation list",
    ["experiment", "variant"],
    registry=REGISTRY,
)
FEEDBACK_EVENTS = Counter(
    "feedback_events_total", "Feedback events accepted by kind", ["kind"], registry=REGISTRY
)
FEEDBACK_REJECTED = Counter(
    "feedback_events_rejected_total",
    "Feedback events refused by reason",
    ["reason"],
    registry=REGISTRY,
)
_STARTED = Gauge("process_started_at_seconds", "Service start time", registry=REGISTRY)
_STARTED.set(time.time())


class RuntimeCollector:
    """Reads the recommender runtime on every scrape (no background bookkeeping)."""

    def __init__(self, runtime, status_fn) -> None:  # noqa: ANN001
        self.runtime = runtime
        self.status_fn = status_fn

    def collect(self):  # noqa: ANN201
        status = self.status_fn()
        ev = self.runtime.events
        gauges = {
            "embedding_index_movies": ("Movies in the embedding index", status["movies_in_index"]),
            "embedding_index_coverage_ratio": (
                "Share of catalogue movies in the index",
                status["coverage_ratio"],
            ),
            "embedding_index_poster_coverage_ratio": (
                "Share of movies with a poster embedding",
                status["poster_coverage_ratio"],
            ),
            "catalogue_movies": ("Movies in the catalogue", status["total_movies"]),
            "embedding_index_builds_total": ("Index builds completed", ev.index_builds),
            "embedding_index_build_failures_total": (
                "Index builds failed",
                ev.index_build_failures,
            ),
            "embedding_index_last_build_seconds": (
                "Duration of the last index build",
                ev.last_index_build_seconds or 0.0,
            ),
            "model_trainings_total": ("Model trainings completed", ev.trainings),
            "model_training_failures_total": ("Model trainings failed", ev.training_failures),
            "model_last_training_seconds": (
                "Duration of the last training",
                ev.last_training_seconds or 0.0,
            ),
        }
        for name, (doc, value) in gauges.items():
            yield GaugeMetricFamily(name, doc, value=float(value))
        built = status.get("built_at_epoch")
        yield GaugeMetricFamily(
            "embedding_index_built_at_seconds",
            "Unix time the current index was built",
            value=built or 0.0,
        )
        trained_at = self.runtime.bundle.meta.get("trained_at") if self.runtime.bundle else None
        yield GaugeMetricFamily(
            "model_trained_at_seconds",
            "Unix time the served model bundle was trained (0: none)",
            value=datetime.fromisoformat(trained_at).timestamp() if trained_at else 0.0,
        )
        settings = self.runtime.settings
        yield GaugeMetricFamily(
            "model_retrain_schedule_seconds",
            "Configured retraining interval",
            value=settings.svd_retrain_hours * 3600,
        )
        yield GaugeMetricFamily(
            "embedding_index_rebuild_schedule_seconds",
            "Configured index rebuild interval",
            value=settings.embedding_rebuild_hours * 3600,
        )
        info = InfoMetricFamily("model_versions", "Versions of the models being served")
        bundle = self.runtime.bundle
        info.add_metric(
            [],
            {
                "bundle": bundle.version if bundle else "",
                "index": status.get("index_version") or "",
                "text_model": status.get("text_model") or "",
                "image_model": status.get("image_model") or "",
            },
        )
        yield info


def render_metrics() -> bytes:
    return generate_latest(REGISTRY)
