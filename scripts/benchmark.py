#!/usr/bin/env python
"""Run the benchmarks; figures go to docs/performance/results.json.

    python scripts/benchmark.py http in_process cache_replay text_index retrain_scale \
        [--write-docs] [-- extra arguments for a single benchmark]
    python scripts/benchmark.py --write-docs      # only re-render docs/performance.md

Each benchmark is a module in scripts/benchmarks/ and can also run alone, e.g.
`python -m scripts.benchmarks.http --redis-url redis://127.0.0.1:6379/1`. docs/performance.md is
rewritten from the results file only when --write-docs is given.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.benchmarks import report  # noqa: E402

BENCHMARKS = (
    "http",
    "in_process",
    "cache_replay",
    "text_index",
    "retrain_small",
    "first_answer",
    "retrain_scale",
    "scale_serving",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="*", metavar="BENCHMARK", help=", ".join(BENCHMARKS))
    parser.add_argument("--write-docs", action="store_true", help="render docs/performance.md")
    args, extra = parser.parse_known_args(argv)
    unknown = [name for name in args.benchmarks if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(BENCHMARKS)}")
    if extra and len(args.benchmarks) != 1:
        parser.error("extra arguments need exactly one benchmark")
    for name in args.benchmarks:
        module = importlib.import_module(f"scripts.benchmarks.{name}")
        status = module.main(extra)
        if status:
            return status
    if args.write_docs:
        report.write_docs()
    elif not args.benchmarks:
        parser.error("name at least one benchmark, or --write-docs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
