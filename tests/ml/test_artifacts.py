"""The versioned artifact store shared by model bundles and the embedding index."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.ml.artifacts import QUARANTINE_PREFIX, ArtifactStore


def _write(payload: dict):  # noqa: ANN202
    def writer(directory: Path) -> None:
        (directory / "data.json").write_text(json.dumps(payload))

    return writer


def _read(directory: Path) -> dict:
    data = json.loads((directory / "data.json").read_text())
    return {"n": data["n"] + 0}  # wrong shapes raise TypeError/KeyError, as real loaders do


def test_publish_load_and_current(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path, kind="thing")
    assert store.load(_read) is None and store.status.reason == "nothing published yet"
    version = store.publish(_write({"n": 1}))
    loaded = store.load(_read)
    assert loaded is not None and loaded.version == version and loaded.value == {"n": 1}
    assert store.status.version == version and store.status.reason == "current"
    assert store.load(_read, loaded_version=version) is None  # unchanged: nothing reloaded
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize(
    "damage",
    ["wrong_shape", "truncated", "missing_file", "missing_target", "empty_pointer"],
)
def test_any_failure_quarantines_and_serves_newest_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    store = ArtifactStore(tmp_path, kind="thing")
    good = store.publish(_write({"n": 1}), "20260101T000000-aaaaaa")
    bad = store.publish(_write({"n": 2}), "20260102T000000-bbbbbb")
    data = tmp_path / bad / "data.json"
    if damage == "wrong_shape":
        data.write_text(json.dumps([1, 2, 3]))
    elif damage == "truncated":
        data.write_text('{"n": 2')
    elif damage == "missing_file":
        data.unlink()
    elif damage == "missing_target":
        store.pointer.write_text("20260103T000000-cccccc\n")
    else:
        store.pointer.write_text("")
    caplog.set_level(logging.ERROR)
    reader = ArtifactStore(tmp_path, kind="thing")
    loaded = reader.load(_read)
    expected = bad if damage in ("missing_target", "empty_pointer") else good
    assert loaded is not None and loaded.version == expected
    assert reader.status.version == expected
    if damage in ("missing_target", "empty_pointer"):
        assert reader.status.reason.startswith("fallback")
        return
    assert reader.status.reason.startswith("fallback") and bad in reader.status.reason
    assert (tmp_path / f"{QUARANTINE_PREFIX}{bad}").is_dir()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(tmp_path / bad) in errors[0].getMessage()
    # Polling again neither reloads nor logs again.
    assert reader.load(_read, loaded_version=good) is None
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_verify_keeps_a_bad_version_from_being_published(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    good = store.publish(_write({"n": 1}), verify=_read)
    with pytest.raises(KeyError):
        store.publish(_write({"x": 1}), verify=_read)
    assert store.current_version() == good
    assert store.versions() == [good]


def test_prune_never_removes_the_last_good_version(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path, keep=2)
    good = store.publish(_write({"n": 1}), "20260101T000000-aaaaaa")
    bad = store.publish(_write({"n": 2}), "20260102T000000-bbbbbb")
    (tmp_path / bad / "data.json").write_text("garbage")
    assert store.load(_read).version == good  # bad quarantined
    newer = store.publish(_write({"n": 3}), "20260103T000000-cccccc")
    assert store.versions() == [newer, good]
    for n, name in enumerate(("20260104T000000-dddddd", "20260105T000000-eeeeee"), start=4):
        store.publish(_write({"n": n}), name)
    assert store.versions() == ["20260105T000000-eeeeee", "20260104T000000-dddddd"]


def test_temp_folders_of_dead_writers_are_removed_at_start(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    good = store.publish(_write({"n": 1}))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = store._host
    orphan = tmp_path / f".tmp-20260101T000000-ffffff-{host}-{dead.stdout.strip()}"
    orphan.mkdir()
    (orphan / "half.npy").write_bytes(b"\x93NUMPY")
    alive = tmp_path / f".tmp-20260101T000000-eeeeee-{host}-{os.getpid()}"
    alive.mkdir()
    assert ArtifactStore(tmp_path).clean_temp() == 1
    assert not orphan.exists() and alive.exists()
    assert store.current_version() == good
