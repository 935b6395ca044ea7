"""What the command line prints: complete --help texts, numbered steps with durations, progress
bars with real counts (no empty "0movie" bar), and one summary line at the end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from backend.cli import build_parser
from backend.devserver import clean_env
from tests.helpers import server_env, write_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_command_has_a_complete_help_text():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse API
    assert set(subcommands) >= {"migrate", "import-movielens", "prepare", "train", "build-index"}
    for name, sub in subcommands.items():
        text = sub.format_help()
        assert sub.description and sub.description.endswith("."), name
        for action in sub._actions:  # noqa: SLF001
            if action.dest != "help":
                assert action.help, f"{name} {action.dest} has no help"
        assert "usage:" in text


def run_setup(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/setup_embeddings.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_setup_embeddings_help_is_not_cut_short():
    result = run_setup(["--help"], clean_env())
    assert result.returncode == 0
    assert "build the embedding index and train the models" in result.stdout
    for option in ("--movielens", "--metadata", "--posters", "--max-movies", "--skip-training"):
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(option))
        assert len(line.split(maxsplit=2)) == 3, f"{option} has no help: {line!r}"


def test_setup_embeddings_shows_steps_real_counts_and_one_summary(tmp_path):
    catalogue = write_catalogue(tmp_path / "catalogue")
    env = server_env(tmp_path, svd_n_factors="10", svd_n_epochs="5")
    args = ["--movielens", str(catalogue), "--metadata", str(catalogue / "metadata.csv")]
    first = run_setup(args, env)
    assert first.returncode == 0, first.stderr[-3000:]
    for number in range(1, 5):
        assert re.search(rf"^\[{number}/4\] .+: done in \d+\.\d s$", first.stdout, re.M), (
            first.stdout
        )
    assert re.search(r"text embeddings: 100%.*60/60", first.stderr), first.stderr[-2000:]
    summary = first.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"ready in \d+ s: 60 of 60 movies text-embedded \(100%\), posters not used \(no "
        r"pretrained ResNet50 weights\); models \S+ on \d+ ratings.*",
        summary,
    ), summary

    # Nothing new to encode: no empty bar, and still one summary line.
    again = run_setup([*args, "--skip-training"], env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0movie" not in again.stderr and "text embeddings" not in again.stderr
    assert "[3/3]" in again.stdout
    assert again.stdout.strip().splitlines()[-1].endswith("models not trained (--skip-training)")


def test_a_bad_setting_is_one_line_naming_its_variable(tmp_path):
    env = server_env(tmp_path, svd_n_factors="0")
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "train"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: invalid setting SVD_N_FACTORS: Input should be greater than or equal to 1"
    ]
