"""The evaluation report: Markdown tables (peers beside the hybrid), goals, JSON and plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TOPN = ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage", "obscure_share",
        "obscure_share_users_20plus", "novelty", "genre_diversity")  # fmt: skip
TITLES = {
    "temporal": "Headline: per-user temporal split (latest 20% held out, relevant = rated >= 4)",
    "ms_split": "MS Recommenders split (per-user random 75/25, every held-out movie relevant)",
    "cold_items": "Cold movies (10% of movies without any training rating; ranked among them)",
}


def _table(section: dict, columns: Sequence[str]) -> list[str]:
    cols = [c for c in columns if any(c in r for k, r in section.items() if not k.startswith("_"))]
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for method, row in section.items():
        if not method.startswith("_"):
            cells = [f"{row[c]:.4f}" if isinstance(row.get(c), float) else "" for c in cols]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def format_tables(result: dict) -> str:
    out: list[str] = []
    for key in ("temporal", "ms_split", "cold_items"):
        if key in result:
            out += [f"### {TITLES[key]}", "", *_table(result[key], TOPN), ""]
    cold = result.get("cold_users")
    if cold:
        for n in ("1_ratings", "3_ratings", "5_ratings"):
            title = f"### Cold users: {n.replace('_', ' ')} kept (rest judged, rated >= 4)"
            out += [title, "", *_table(cold[n], TOPN[:4]), ""]
            out += _headroom_line(cold[n].get("_content_headroom"))
    if "rating" in result:
        out += ["### Rating prediction (Surprise protocol, 5-fold RMSE)", ""]
        out += [*_table(result["rating"], ("rmse", "rmse_std")), ""]
    stab = result.get("stability")
    if stab:
        out += ["### Retraining on 10 new ratings (a newcomer rates 10 movies)", "",
                f"Top-10 overlap before/after: user 1 {stab['user_1_overlap@10']}, mean over "
                f"{stab['users']} users {stab['mean_overlap@10']:.3f} ({stab['users_below_0.7']} "
                f"users below 0.7); full train {stab['train_seconds']} s.", ""]  # fmt: skip
    proto = (result.get("temporal") or {}).get("_protocol", {})
    if "served_predicted_rating_rmse" in proto:
        out += [f"Served `predicted_rating` (SVD stars) RMSE on the temporal hold-out: "
                f"{proto['served_predicted_rating_rmse']:.4f} over {proto['predicted_pairs']} "
                "pairs.", ""]  # fmt: skip
    return "\n".join(out)


def _headroom_line(headroom: dict | None) -> list[str]:
    """The content headroom (backend.ml.evaluation.headroom) under a cold-user table."""
    if not headroom or not headroom.get("users"):
        return []
    return [f"Content headroom (not served: the blend tuned on these test answers by local "
            f"search over a fixed pool, an oracle estimate), {headroom['users']} users: "
            f"NDCG@10 over each user's top {headroom['pool']} "
            f"{headroom['tuned_without_content']:.4f} without content, "
            f"{headroom['tuned_with_content']:.4f} with content, ratio "
            f"{headroom['ratio']:.3f} (the served blend without content: "
            f"{headroom['served_without_content']:.4f}).", ""]  # fmt: skip


def _json_default(value):  # noqa: ANN001, ANN202
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def write_report(result: dict, report_dir: Path | str, notes: str = "") -> list[Path]:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    name = result["dataset"]
    js = report_dir / f"{name}.json"
    js.write_text(json.dumps(result, indent=2, default=_json_default) + "\n")
    plots = _plots(result, report_dir)
    info = result.get("data", {})
    lines = [
        f"# Offline evaluation: {name}", "",
        f"{info.get('ratings')} ratings, {info.get('users')} users, {info.get('movies')} movies. "
        f"Text model `{result.get('text_model')}`; seed {result.get('seed')}; "
        f"{result.get('seconds')} s on 2 shared CPU cores.", "",
        f"Produced by `nice -n 5 python scripts/evaluate.py --data-dir ../shared/data --dataset "
        f"{name} --out docs/evaluation/{name}.json --report-dir docs/evaluation`.", "",
        "Every list is ranked by the method's `Recommender.rank`; `hybrid` is the served "
        "`HybridRecommender.rank` (with embeddings), `hybrid_no_embeddings` the same without.", "",
        format_tables(result),
    ]  # fmt: skip
    lines += [f"![{p.stem}]({p.name})" for p in plots] + ["", "### Goals (issue 10)", ""]
    for goal, row in (result.get("goals") or {}).items():
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in row.items() if k != "met")  # fmt: skip
        lines.append(f"- {goal}: {'met' if row['met'] else '**missed**'} ({shown})")
    tuned = (result.get("temporal") or {}).get("_protocol", {}).get("tuned_peers")
    if tuned:
        lines += ["", f"Peers tuned on a train-only temporal validation split: {tuned}"]
    if notes:
        lines += ["", "### Notes", "", notes.strip()]
    md = report_dir / f"{name}.md"
    md.write_text("\n".join(lines) + "\n")
    return [js, *plots, md]


def _plots(result: dict, report_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    for section, metric in (("temporal", "ndcg@10"), ("ms_split", "ndcg@10"),
                            ("cold_items", "recall@10")):  # fmt: skip
        rows = {m: r[metric] for m, r in (result.get(section) or {}).items()
                if not m.startswith("_") and metric in r}  # fmt: skip
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
        colors = ["#c0392b" if m.startswith("hybrid") else "#7f8c8d" for m in rows]
        ax.barh(list(rows), list(rows.values()), color=colors)
        for y, v in enumerate(rows.values()):
            ax.text(v, y, f" {v:.3f}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(metric)
        ax.set_title(f"{result['dataset']}: {section} {metric}", fontsize=10)
        ax.set_xlim(0, max(rows.values()) * 1.18 + 1e-9)
        fig.tight_layout()
        path = report_dir / f"{result['dataset']}-{section}-{metric.replace('@', '_at_')}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out
