"""Helpers shared by the benchmarks: timing statistics, machine facts, the results file."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "performance" / "results.json"
SHARED_DATA = Path(os.environ.get("SHARED_DATA", ROOT.parent / "shared" / "data"))
MOVIELENS_SMALL = SHARED_DATA / "movielens" / "ml-latest-small"
METADATA_SMALL = SHARED_DATA / "overviews" / "ml-latest-small_tmdb" / "movies_enriched.csv"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def stats_ms(seconds: list[float] | np.ndarray) -> dict:
    """P50/P95/P99/mean of durations given in seconds, in milliseconds."""
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    if arr.size == 0:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "mean": None}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "n": int(arr.size),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(arr.mean()), 3),
    }


def load_avg() -> list[float]:
    with contextlib.suppress(OSError):
        return [round(x, 2) for x in os.getloadavg()]
    return []


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def machine() -> dict:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_at_start": load_avg(),
    }


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def _command() -> str:
    """How this run was started, as a command to rerun from the repository root."""
    script = Path(sys.argv[0]).resolve()
    if script.parent == ROOT / "scripts" / "benchmarks":
        head = f"python -m scripts.benchmarks.{script.stem}"
    else:
        head = f"python {script.relative_to(ROOT) if script.is_relative_to(ROOT) else script}"
    return " ".join([head, *sys.argv[1:]])


def save_section(name: str, figures: dict) -> None:
    """Merge one benchmark's figures into the results file, with how and when they were made."""
    results = load_results()
    results[name] = {
        "command": _command(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_avg_at_end": load_avg(),
        **figures,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    log(f"figures for {name!r} written to {RESULTS.relative_to(ROOT)}")


def child_mode(argv: list[str] | None, doc: str, child: Callable[[], dict]) -> bool:
    """Parse a child-measured benchmark's command line; with --child (the parent's call) run
    `child()` here, print its figures as JSON and return True."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    if not parser.parse_args(argv).child:
        return False
    print(json.dumps(child()))
    return True


def measure_in_child(module: str, env: dict[str, str]) -> dict | None:
    """The figures of `python -m module --child` run in a fresh process (clean memory and BLAS
    state), or None (its stderr shown) when it fails."""
    result = subprocess.run(
        [sys.executable, "-m", module, "--child"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])
