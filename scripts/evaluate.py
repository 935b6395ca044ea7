"""Offline evaluation of the served recommender against its peers (temporal headline).

    python scripts/evaluate.py --data-dir ../shared/data --dataset ml-100k \
        --out docs/evaluation/ml-100k.json --report-dir docs/evaluation
    python scripts/evaluate.py --synthetic --quick --out /tmp/synthetic.json

Reads the MovieLens files directly (not the service database). Text embeddings (MiniLM) are
cached under data/eval-cache/ (gitignored), so only the first run of a dataset encodes movies.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from backend.ml.evaluation import datasets as D  # noqa: E402
from backend.ml.evaluation import experiment as X  # noqa: E402
from backend.ml.evaluation import report as R  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="shared data folder (../shared/data)")
    parser.add_argument("--dataset", choices=D.DATASETS, default="ml-100k")
    parser.add_argument("--synthetic", action="store_true", help="generated data, no files")
    parser.add_argument("--quick", action="store_true", help="sampled folds/users (CI)")
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    parser.add_argument("--report-dir", type=Path, help="write <dataset>.md/.json/.png here")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "data" / "eval-cache")
    parser.add_argument("--sections", default=",".join(X.SECTIONS))
    parser.add_argument("--seed", type=int, default=X.SEED)
    parser.add_argument("--notes", type=Path, help="Markdown notes appended to the report")
    parser.add_argument(
        "--index-dir",
        type=Path,
        help="take the text embeddings from the service's embedding index here (e.g. "
        "data/embeddings) instead of encoding; its movie text includes MovieLens tags",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("sentence_transformers", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    started = time.perf_counter()
    if args.synthetic:
        dataset = D.synthetic_dataset(seed=args.seed)
        encoder = D.HashingTextEncoder()
        emb, model = D.text_embeddings(dataset, None, encoder)
    else:
        if args.data_dir is None:
            parser.error("--data-dir is required unless --synthetic is given")
        try:
            dataset = D.load_movielens(args.data_dir, args.dataset)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: cannot load {args.dataset} from {args.data_dir}: {exc}", file=sys.stderr)
            return 2
        if args.index_dir:
            emb, model = D.index_embeddings(dataset, args.index_dir)
        else:
            emb, model = D.text_embeddings(dataset, args.cache_dir)
    print(f"{dataset.name}: {dataset.info}; text embeddings {emb.shape} ({model}) "
          f"in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    result = X.run_evaluation(
        dataset,
        emb,
        text_model=model,
        quick=args.quick,
        seed=args.seed,
        sections=[s.strip() for s in args.sections.split(",") if s.strip()],
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=R._json_default) + "\n")
    print(R.format_tables(result))
    for goal, row in result["goals"].items():
        print(f"goal {goal}: {'met' if row['met'] else 'MISSED'} ({row})")
    if args.report_dir:
        notes = args.notes.read_text() if args.notes and args.notes.is_file() else ""
        for path in R.write_report(result, args.report_dir, notes):
            print(f"wrote {path}")
    print(f"total {time.perf_counter() - started:.1f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
