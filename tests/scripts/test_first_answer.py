"""The first_answer benchmark: registered like the others, its figure beside its target, and
the CPU seconds it reads are the service's processes' own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from scripts import benchmark
from scripts.benchmarks import report
from scripts.benchmarks.first_answer import _cpu_seconds, _text_weight

ROOT = Path(__file__).resolve().parents[2]


def test_first_answer_is_registered_and_reported_beside_its_target():
    assert "first_answer" in benchmark.BENCHMARKS
    makefile = (ROOT / "Makefile").read_text()
    line = next(x for x in makefile.splitlines() if x.startswith("BENCHMARKS ?="))
    assert "first_answer" in line.split()
    text = report.render({"first_answer": {"seconds": {"first_text_list": 97.5}}})
    row = next(x for x in text.splitlines() if "first hybrid list using text signals" in x)
    assert "97.5 s | yes" in row
    text = report.render({"first_answer": {"seconds": {"first_text_list": 651.5}}})
    row = next(x for x in text.splitlines() if "first hybrid list using text signals" in x)
    assert "651.5 s | **no**" in row


def test_text_weight_reads_the_served_blend():
    blend = {"names": ["svd", "content_text"], "weights": [0.4, 0.7]}
    assert _text_weight({"blend_weights": blend}) == 0.7
    assert _text_weight({"blend_weights": None}) == 0.0


def test_cpu_seconds_count_the_children_of_the_service_only():
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
    child = subprocess.Popen([sys.executable, "-c", busy + "time.sleep(30)", "backend.jobs.worker"])
    try:
        deadline = time.monotonic() + 20  # a loaded machine gives the child a small share
        while _cpu_seconds(os.getpid())["worker"] < 0.2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _cpu_seconds(os.getpid())["worker"] >= 0.2
        assert _cpu_seconds(child.pid) == {"worker": 0.0, "api": 0.0}
    finally:
        child.kill()
        child.wait()
