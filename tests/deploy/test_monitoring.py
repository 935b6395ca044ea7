"""Alert rules and the Grafana dashboard: they parse, cover what operations needs, refer only to
metrics the service exports, and (with the Debian `prometheus` package) pass promtool's checks
and the rule unit tests in deploy/monitoring/alerts_test.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
REQUIRED_ALERTS = {
    "RecommendationLatencyP95High",
    "HighErrorRate",
    "RecommendationCacheHitRateLow",
    "EmbeddingIndexBuildFailed",
    "ModelStale",
    "NoImpressionsRecorded",
}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "on", "without", "sum", "rate", "increase", "time", "vector",
    "histogram_quantile",
}  # fmt: skip


def _metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|on|without)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    tokens = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {t for t in tokens if t.lower() not in PROMQL_WORDS}


def _exported(metrics_text: str) -> set[str]:
    names = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            suffixes = {
                "counter": ["_total", "_created"],
                "histogram": ["_bucket", "_count", "_sum", "_created"],
                "info": ["_info"],
            }.get(kind, [""])
            names |= {name + s for s in suffixes} | {name}
    return names


@pytest.fixture(scope="module")
def exported(client) -> set[str]:
    return _exported(client.get("/metrics").text)


def _rules() -> list[dict]:
    document = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_alert_rules_cover_operations_and_use_exported_metrics(exported):
    rules = _rules()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        unknown = _metric_names(rule["expr"]) - exported
        assert not unknown, (rule["alert"], unknown)


def test_dashboard_panels_query_exported_metrics(exported):
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels) >= 10
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in ("latency", "error", "cache", "impressions", "click", "conversion", "age"):
        assert topic in titles
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            unknown = _metric_names(target["expr"]) - exported
            assert not unknown, (panel["title"], unknown)


def test_metric_name_extraction():
    expr = 'sum by (le, route) (rate(a_bucket{route=~"/x"}[5m])) > 0.2 and on() b_total'
    assert _metric_names(expr) == {"a_bucket", "b_total"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) absent")
def test_promtool_checks_and_rule_unit_tests():
    for args in (
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts_test.yml"],
    ):
        result = subprocess.run(
            ["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
