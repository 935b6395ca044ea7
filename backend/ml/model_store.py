"""Versioned, atomically swapped model directories shared by every process on one DATA_DIR.

Layout: root/<version>/... and root/CURRENT holding the active version. A new version is written
under a temporary name, renamed into place, and only then is CURRENT replaced (os.replace), so a
reader sees either the old or the new model, never a half-written one.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class VersionedStore:
    def __init__(self, root: Path, keep: int = 2) -> None:
        self.root = Path(root)
        self.keep = keep

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current_version(self) -> str | None:
        try:
            version = self.pointer.read_text().strip()
        except OSError:
            return None
        return version or None

    def current_dir(self) -> Path | None:
        version = self.current_version()
        if version is None:
            return None
        path = self.root / version
        return path if path.is_dir() else None

    def publish(self, version: str, writer: Callable[[Path], None]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=self.root))
        try:
            writer(tmp)
            final = self.root / version
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        pointer_tmp = self.root / f".CURRENT.{os.getpid()}.tmp"
        pointer_tmp.write_text(version)
        os.replace(pointer_tmp, self.pointer)
        self._prune(version)
        return final

    def _prune(self, current: str) -> None:
        versions = sorted(
            (p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in versions[self.keep :]:
            if old.name != current:
                shutil.rmtree(old, ignore_errors=True)
