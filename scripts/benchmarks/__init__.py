"""One module per benchmark; `scripts/benchmark.py` runs them and renders docs/performance.md."""
