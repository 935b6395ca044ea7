"""The README's examples run as written against a real server on generated data.

Every ```bash and ```python block in README.md carries a marker comment just above it:
`<!-- readme-test: run -->` (run here, in order) or `<!-- readme-test: skip (why) -->`. The run
blocks execute from the repository root with the README's own `.venv/bin/python`; the only change
is the address: `localhost:8000` becomes this test's server.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import get_args

import httpx
import pytest

from backend.devserver import DevServer, run_cli, start_server
from backend.services.movies import MovieSort
from backend.services.ratings import RatingSort
from tests.helpers import server_env, write_catalogue

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
BLOCK = re.compile(
    r"(?:<!-- readme-test: (?P<mode>run|skip)(?P<why>[^>]*)-->\n)?```(?P<lang>bash|python)\n"
    r"(?P<code>.*?)```",
    re.S,
)
READY_TIMEOUT_S = 300


def readme_blocks() -> list[tuple[str, str, str]]:
    """(mode, language, code) for every bash/python block, in README order."""
    return [(m["mode"], m["lang"], m["code"]) for m in BLOCK.finditer(README.read_text("utf-8"))]


def test_every_readme_example_is_run_or_says_why_not():
    blocks = readme_blocks()
    assert sum(mode == "run" for mode, _, _ in blocks) >= 3
    for mode, lang, code in blocks:
        assert mode, f"```{lang} block without a readme-test marker:\n{code[:200]}"
    text = README.read_text("utf-8")
    for mode, why in re.findall(r"<!-- readme-test: (run|skip)([^>]*)-->", text):
        assert mode == "run" or why.strip(" ()"), "a skipped block must say why"
    # Commands run from a fresh clone need the project's interpreter, not whatever is on PATH.
    for _, lang, code in blocks:
        if lang == "bash":
            assert not re.search(r"(^|[|;&(]\s*)python3? ", code, re.M), code


def test_readme_documents_the_accepted_sort_values():
    text = README.read_text("utf-8")
    for value in get_args(MovieSort) + get_args(RatingSort):
        assert f"`{value}`" in text, value
    assert '"items"' in text and '"total"' in text and '"skip"' in text and '"limit"' in text


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory) -> tuple[DevServer, dict[str, str]]:
    root = tmp_path_factory.mktemp("readme")
    catalogue = write_catalogue(root / "catalogue")
    env = server_env(root, train_on_startup="true", build_index_on_startup="true")
    run_cli(["migrate"], env)
    run_cli(
        ["import-movielens", str(catalogue), "--metadata", str(catalogue / "metadata.csv")], env
    )
    server = start_server(env, root / "server.log")
    try:
        server.wait("/health")
        wait_until_trained_and_indexed(server)
        yield server, env
    finally:
        server.stop()


def wait_until_trained_and_indexed(server: DevServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        name = f"probe_{secrets.token_hex(3)}"
        password = "probe-password-1"
        client.post(
            "/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": password},
        )
        token = client.post("/auth/login", data={"username": name, "password": password})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            status = client.get("/embeddings/status", headers=headers).json()
            ready = client.get("/ready").status_code == 200
            if ready and status.get("movies_in_index") and status.get("model_version"):
                return
            time.sleep(1)
    pytest.fail(f"server not trained and indexed in {READY_TIMEOUT_S} s:\n{server.log_tail()}")


def published_versions(data_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(data_dir)): p.read_text() for p in data_dir.rglob("CURRENT")}


def test_readme_examples_run_verbatim(readme_server):
    server, env = readme_server
    address = server.base_url.removeprefix("http://")
    data_dir = Path(env["DATA_DIR"])
    for mode, lang, code in readme_blocks():
        if mode != "run":
            continue
        before = published_versions(data_dir)
        if lang == "bash":
            command = ["bash", "-euo", "pipefail", "-c", code.replace("localhost:8000", address)]
        else:
            command = [sys.executable, "-c", code]
        result = subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"{code}\n--- stdout\n{result.stdout}\n{result.stderr}"
        out = result.stdout
        if "curl" in code:
            check_curl_output(out)
        elif lang == "python":
            check_python_output(out)
            assert published_versions(data_dir) == before, "the Python example changed the index"
        elif "build-index" in code:
            assert out.strip().splitlines()[-1].startswith("index "), out


def check_curl_output(out: str) -> None:
    """Each curl prints one JSON document: recommendations (2), a movie page, onboarding."""
    documents = []
    decoder = json.JSONDecoder()
    text = out[out.index("[") if "[" in out else 0 :]
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    hybrid, baseline, page, onboarding = documents[-4:]
    for recs in (hybrid, baseline):
        assert len(recs) == 10 and all({"id", "title", "vote_average"} <= set(m) for m in recs)
    assert set(page) == {"items", "total", "skip", "limit"} and page["items"]
    assert "toy" in page["items"][0]["title"].lower()
    assert len(onboarding) == 5


def check_python_output(out: str) -> None:
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    assert set(lines) == {"hybrid", "svd", "text", "index"}, out
    for name in ("hybrid", "svd", "text"):
        assert len(lines[name].split(" | ")) == 5, out
    assert re.fullmatch(r" [1-9]\d* of \d+ movies embedded", lines["index"]), out


def test_readme_links_point_at_files_that_exist():
    text = README.read_text("utf-8")
    targets = re.findall(r"\]\(((?:docs|tests|backend|scripts)/[^)#]+)\)", text)
    assert any(t.endswith("-phone.png") for t in targets)
    missing = [t for t in targets if not (REPO_ROOT / t).exists()]
    assert not missing, missing
