"""docs/performance.md from docs/performance/results.json: measured figures beside the targets."""

from __future__ import annotations

from collections.abc import Callable

from scripts.benchmarks.common import RESULTS, ROOT, load_results

DOC = ROOT / "docs" / "performance.md"

Getter = Callable[[dict], float | None]


def _get(section: str, *path: str) -> Getter:
    def read(results: dict) -> float | None:
        node = results.get(section)
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node if isinstance(node, int | float) else None

    return read


def _finished_peak(results: dict) -> float | None:
    """Peak memory of a finished 25M retrain only: a stopped run's peak is not the full cost."""
    run = results.get("retrain_scale_1", {})
    return run.get("peak_rss_mb") if run.get("finished") else None


def _max_rss(results: dict) -> float | None:
    rss = results.get("http", {}).get("without_cache", {}).get("worker_rss_mb") or []
    values = [v for v in rss if v is not None]
    return max(values) if values else None


# (goal, measured by, getter, unit, target, higher is better, the seed's target)
GOALS: list[tuple[str, str, Getter, str, float, bool, str]] = [
    (
        "HTTP P95, cache on, one Redis cache shared by the workers (16 clients, 2 workers, "
        "600 users)",
        "http",
        _get("http", "with_shared_cache", "p95"),
        "ms",
        25,
        False,
        "P95 < 200 ms, P99 < 500 ms",
    ),
    (
        "HTTP P95, cache on, the embedded default (worker LRUs, one directory cache)",
        "http",
        _get("http", "with_cache", "p95"),
        "ms",
        25,
        False,
        "P95 < 200 ms, P99 < 500 ms",
    ),
    (
        "HTTP P95, cache disabled",
        "http",
        _get("http", "without_cache", "p95"),
        "ms",
        60,
        False,
        "P95 < 200 ms",
    ),
    ("HTTP errors, cache on", "http", _get("http", "with_cache", "errors"), "", 0, False, "-"),
    (
        "HTTP errors, shared cache",
        "http",
        _get("http", "with_shared_cache", "errors"),
        "",
        0,
        False,
        "-",
    ),
    (
        "HTTP errors, cache disabled",
        "http",
        _get("http", "without_cache", "errors"),
        "",
        0,
        False,
        "-",
    ),
    (
        "In process, public API, hybrid top-10 miss P50",
        "in_process",
        _get("in_process", "blas_pinned", "public_api", "p50"),
        "ms",
        3,
        False,
        "-",
    ),
    (
        "In process, public API, hybrid top-10 miss P99",
        "in_process",
        _get("in_process", "blas_pinned", "public_api", "p99"),
        "ms",
        10,
        False,
        "-",
    ),
    (
        "In process, API service call (miss + JSON) P50",
        "in_process",
        _get("in_process", "blas_pinned", "service_miss", "p50"),
        "ms",
        3,
        False,
        "-",
    ),
    (
        "In process, API service call (miss + JSON) P99",
        "in_process",
        _get("in_process", "blas_pinned", "service_miss", "p99"),
        "ms",
        10,
        False,
        "-",
    ),
    (
        "Cache hit rate, steady replay with ratings arriving",
        "cache_replay",
        _get("cache_replay", "hit_rate"),
        "",
        0.95,
        True,
        "> 95%",
    ),
    (
        "Serving worker RSS (largest worker, ml-latest-small)",
        "http",
        _max_rss,
        "MB",
        600,
        False,
        "-",
    ),
    (
        "Text index, whole ml-latest-small catalogue (`build-index`, fresh process)",
        "first_start_cli",
        _get("first_start_cli", "seconds", "build-index"),
        "s",
        60,
        False,
        "-",
    ),
    (
        "`make run` on a fresh clone to the first hybrid list using text signals",
        "first_answer",
        _get("first_answer", "seconds", "first_text_list"),
        "s",
        120,
        False,
        "-",
    ),
    (
        "Full retrain, ml-latest-small (`train`, fresh process)",
        "first_start_cli",
        _get("first_start_cli", "seconds", "train"),
        "s",
        30,
        False,
        "-",
    ),
    (
        "Retrain, MovieLens-25M-shaped, time",
        "retrain_scale_1",
        _get("retrain_scale_1", "train_seconds"),
        "s",
        900,
        False,
        "-",
    ),
    (
        "Retrain, MovieLens-25M-shaped, peak memory",
        "retrain_scale_1",
        _finished_peak,
        "MB",
        16384,
        False,
        "-",
    ),
    (
        "Serving P99 after the MovieLens-25M-shaped retrain (in process, `rank` top-10)",
        "retrain_scale_1",
        _get("retrain_scale_1", "serving", "p99"),
        "ms",
        20,
        False,
        "-",
    ),
]


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, int):
        return f"{value:,} {unit}".strip()
    text = f"{value:.3g}" if isinstance(value, float) and value < 1 else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def goals_table(results: dict) -> list[str]:
    lines = [
        "| Goal | Target | Seed's target | Measured | Met |",
        "|---|---|---|---|---|",
    ]
    for goal, _section, getter, unit, target, higher, seed in GOALS:
        value = getter(results)
        met = (
            "-"
            if value is None
            else ("yes" if (value >= target if higher else value <= target) else "**no**")
        )
        sign = "≥" if higher else "≤"
        lines.append(
            f"| {goal} | {sign} {_fmt(target, unit)} | {seed} | {_fmt(value, unit)} | {met} |"
        )
    return lines


def runs_table(results: dict) -> list[str]:
    lines = [
        "| Benchmark | Saved (UTC) | Load average (1 min) when saved | Command |",
        "|---|---|---|---|",
    ]
    for name, section in sorted(results.items()):
        load = (section.get("load_avg_at_end") or [None])[0]
        lines.append(
            f"| {name} | {section.get('date', '')} | {load} | `{section.get('command', '')}` |"
        )
    return lines


def _latency_rows(label: str, row: dict | None) -> str:
    if not row:
        return f"| {label} | not measured | | | | |"
    return (
        f"| {label} | {row.get('p50')} | {row.get('p95')} | {row.get('p99')} | "
        f"{row.get('rps', '')} | {row.get('errors', '')} |"
    )


def details(results: dict) -> list[str]:
    http, ip = results.get("http", {}), results.get("in_process", {})
    lines = [
        "## Latency in detail (ms)",
        "",
        "| Path | P50 | P95 | P99 | req/s | errors |",
        "|---|---|---|---|---|---|",
        _latency_rows(
            "HTTP, cache on, one Redis cache shared by the workers", http.get("with_shared_cache")
        ),
        _latency_rows(
            "HTTP, cache on, the embedded default (worker LRUs, one directory cache)",
            http.get("with_cache"),
        ),
        _latency_rows("HTTP, cache disabled (the naive path)", http.get("without_cache")),
    ]
    for mode, label in (("blas_pinned", "BLAS pinned"), ("blas_default", "BLAS default")):
        for path in ("public_api", "service_miss"):
            lines.append(_latency_rows(f"in process, {path}, {label}", ip.get(mode, {}).get(path)))
    replay = results.get("cache_replay", {})
    lines.append(_latency_rows("replay, cache hits", replay.get("hit_latency")))
    lines.append(_latency_rows("replay, cache misses", replay.get("miss_latency")))
    profile = ip.get("blas_pinned", {}).get("profile_service_miss") or []
    if profile:
        lines += [
            "",
            "Where a cache miss spends its time (cProfile, cumulative ms per request):",
            "",
        ]
        lines += ["| Function | ms |", "|---|---|"]
        lines += [f"| `{row['function']}` | {row['ms_per_call']} |" for row in profile]
    text = results.get("text_index", {}).get("backends") or {}
    lines += _section(
        "Text encoder backends (same movies, same run)",
        ("Backend", "texts/s", "CPU s", "genre agreement@10", "cosine to PyTorch (min / mean)",
         "neighbour recall@10 vs PyTorch"),
        [
            (name, row["texts_per_second"], row["cpu_seconds"], row["genre_agreement_at_10"],
             f"{row.get('cosine_to_torch_min', 1.0)} / {row.get('cosine_to_torch_mean', 1.0)}",
             row.get("neighbour_recall_at_10_vs_torch", 1.0))
            for name, row in text.items()
        ],
    )  # fmt: skip
    sizes = results.get("scale_serving", {}).get("sizes") or {}
    lines += _section(
        "Catalogue size (SVD + text + popularity blend, synthetic catalogues)",
        ("Movies", "exact text P50", "FAISS text P50 (recall@10)", "blend, every movie P50 / P99",
         "blend over candidates P50 / P99 (recall@10)"),
        [
            (f"{int(n):,}", row["exact_text"]["p50"],
             f"{row['faiss_text']['p50']} ({row['faiss_text_recall_at_10']})",
             f"{row['hybrid_exhaustive']['p50']} / {row['hybrid_exhaustive']['p99']}",
             f"{row['hybrid_candidates']['p50']} / {row['hybrid_candidates']['p99']} "
             f"({row['hybrid_candidates_recall_at_10']})")
            for n, row in sizes.items()
        ],
    )  # fmt: skip
    retrains = {k: v for k, v in results.items() if k.startswith("retrain")}
    keys = (
        "users",
        "movies",
        "ratings",
        "service training s",
        "ALS peer s",
        "peak RSS MB",
        "finished",
        "holdout RMSE",
        "serving P50 / P99 ms",
    )
    lines += _section(
        "Retraining",
        ("Run", *keys),
        [
            (name, *(_retrain_row(row).get(k, "") for k in keys))
            for name, row in sorted(retrains.items())
        ],
    )
    first = results.get("first_start_cli", {}).get("seconds") or {}
    lines += _section(
        "A new user's CLI steps (seconds, each a fresh process)",
        tuple(first),
        [tuple(first.values())],
    )
    return lines


def _section(title: str, columns: tuple, rows: list[tuple]) -> list[str]:
    """A `## title` Markdown section holding one table; nothing when there are no columns or
    rows (the benchmark did not run)."""
    if not columns or not rows:
        return []
    return [
        "",
        f"## {title}",
        "",
        _cells(columns),
        "|" + "---|" * len(columns),
        *(_cells(row) for row in rows),
    ]


def _cells(values: tuple) -> str:
    return "| " + " | ".join(str(v) for v in values) + " |"


def _retrain_row(row: dict) -> dict:
    flat = {**row.get("generated", {}), **row}
    flat["service training s"] = row.get("train_seconds", "did not finish")
    flat["ALS peer s"] = row.get("als", {}).get("seconds", "")
    flat["peak RSS MB"] = row.get("peak_rss_mb", "")
    flat["finished"] = row.get("finished", True)
    flat["holdout RMSE"] = row.get("service_training", row).get("holdout_rmse", "")
    serving = row.get("serving", {})
    flat["serving P50 / P99 ms"] = f"{serving['p50']} / {serving['p99']}" if serving else ""
    return flat


def render(results: dict) -> str:
    intro = (ROOT / "scripts" / "benchmarks" / "performance_intro.md").read_text()
    parts = [intro.rstrip(), "", "## Figures beside the targets", "", *goals_table(results)]
    parts += ["", *details(results)]
    parts += ["", "## Where each figure comes from", "", *runs_table(results)]
    parts += ["", f"All figures: [`{RESULTS.relative_to(ROOT)}`](performance/{RESULTS.name}).", ""]
    return "\n".join(parts)


def write_docs() -> None:
    DOC.write_text(render(load_results()))
    print(f"wrote {DOC.relative_to(ROOT)}")
