"""Helpers shared by the benchmark scripts: timing logs, machine facts and docs/performance.md."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commands(meta: dict, script: str) -> list[str]:
    """One command line per distinct run that produced a section of the cached results."""
    runs = meta.get("runs") or {"all": {"argv": meta.get("argv", ""), "date": meta.get("date")}}
    seen: dict[str, list[str]] = {}
    for section, run in runs.items():
        seen.setdefault(f"python scripts/{script} {run.get('argv', '')}".rstrip(), []).append(
            f"{section} {run.get('date', '')}"
        )
    return [f"{cmd}   # {', '.join(parts)}" for cmd, parts in seen.items()]


def load_avg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_section(doc: Path, marker: str, body: str) -> None:
    """Replace (or append) the block between <!-- marker:start --> and <!-- marker:end -->."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = (
        doc.read_text()
        if doc.exists()
        else (
            "# Performance\n\nFigures measured by `scripts/benchmark.py` (serving) and "
            "`scripts/benchmark_embeddings.py` (index builds and start-up). Each script rewrites "
            "only its own section below.\n"
        )
    )
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
