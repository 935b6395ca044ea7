"""One versioned artifact store for model bundles and embedding indexes.

Layout under `root`:
    <version>/...            one published version (written whole, then renamed into place)
    CURRENT                  the live version's name, replaced atomically (os.replace)
    .tmp-<version>-<host>-<pid>/   a version being written (removed at start if its writer died)
    .quarantine-<version>/   a version that failed to load, kept for inspection

Writers: `publish` writes into a temporary folder, fsyncs every file, optionally proves the
folder loads (`verify`), renames it into place, then points CURRENT at it and prunes old
versions (never the current one, never the newest good ones). Readers: `load` loads the current
version; when that fails for any reason it logs one line with the path, quarantines the
version and serves the newest good version instead. `status` says which version and why.
Pure: no configuration, database or web imports.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
CURRENT_FILE = "CURRENT"
TMP_PREFIX = ".tmp-"
QUARANTINE_PREFIX = ".quarantine-"
STALE_TMP_SECONDS = 6 * 3600.0
VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,127}$")


def new_version() -> str:
    """Sortable unique version name: UTC timestamp (µs) + short random suffix."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}"


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (directories: so a rename or new entry is durable)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Loaded(Generic[T]):
    value: T
    version: str
    path: Path


@dataclass(frozen=True)
class StoreStatus:
    version: str | None
    reason: str


class ArtifactStore:
    def __init__(self, root: Path | str, kind: str = "artifact", keep: int = 3) -> None:
        self.root = Path(root)
        self.kind = kind
        self.keep = max(2, keep)
        self.status = StoreStatus(None, "nothing published yet")
        self._reported: set[str] = set()
        self._host = socket.gethostname().replace("-", "_")

    # ------------------------------------------------------------------ reading
    @property
    def pointer(self) -> Path:
        return self.root / CURRENT_FILE

    def current_version(self) -> str | None:
        """The name CURRENT holds (a cheap read other processes poll); None when absent."""
        try:
            version = self.pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return version or None

    def versions(self) -> list[str]:
        """Published versions on disk, newest first (temporary and quarantined ones excluded)."""
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return []
        names = [e.name for e in entries if VERSION_RE.match(e.name) and e.is_dir()]
        return sorted(names, reverse=True)

    def resolve(self) -> StoreStatus:
        """Which version to serve, without loading it: CURRENT when present, else the newest."""
        current = self.current_version()
        available = self.versions()
        if current is not None and current in available:
            return StoreStatus(current, "current")
        if current is None:
            why = "no CURRENT pointer" if not self.pointer.exists() else "empty CURRENT pointer"
        elif not VERSION_RE.match(current):
            why = f"CURRENT holds an invalid name {current[:40]!r}"
        elif (self.root / f"{QUARANTINE_PREFIX}{current}").exists():
            why = f"current version {current} is quarantined"
        else:
            why = f"CURRENT points to missing {self.root / current}"
        if current is not None and available:
            self._report_once(current, f"{self.kind} {why}; serving the newest good version")
        if not available:
            return StoreStatus(None, why if current is not None else "nothing published yet")
        return StoreStatus(available[0], f"fallback: {why}")

    def load(
        self, loader: Callable[[Path], T], loaded_version: str | None = None
    ) -> Loaded[T] | None:
        """Load the version to serve; None when it is `loaded_version` already or none loads.

        Any exception from `loader` quarantines that version (one log line with its path) and
        the next newest good version is tried.
        """
        while True:
            status = self.resolve()
            if status.version is None or status.version == loaded_version:
                self.status = status
                return None
            path = self.root / status.version
            try:
                value = loader(path)
            except Exception as exc:  # noqa: BLE001 - any failure means "do not serve this"
                self.quarantine(status.version, exc)
                continue
            self.status = status
            return Loaded(value, status.version, path)

    def quarantine(self, version: str, error: BaseException) -> None:
        path = self.root / version
        target = self.root / f"{QUARANTINE_PREFIX}{version}"
        log.error(
            "%s %s failed to load (%s: %s); quarantined as %s",
            self.kind,
            path,
            type(error).__name__,
            str(error)[:300],
            target,
        )
        self._reported.add(version)
        try:
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)
            os.replace(path, target)
        except OSError:
            pass  # another process moved it first, or it is already gone

    def _report_once(self, key: str, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.error("%s", message)

    # ------------------------------------------------------------------ writing
    def publish(
        self,
        writer: Callable[[Path], None],
        version: str | None = None,
        verify: Callable[[Path], object] | None = None,
    ) -> str:
        """Write a new version, make it CURRENT atomically and prune; returns its name.

        `verify` loads the written folder before it is published: a version that cannot be
        read back never becomes current.
        """
        version = version or new_version()
        if not VERSION_RE.match(version):
            raise ValueError(f"invalid {self.kind} version {version!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / version
        if final.exists():
            raise FileExistsError(f"{self.kind} version {version} already exists in {self.root}")
        tmp = self.root / f"{TMP_PREFIX}{version}-{self._host}-{os.getpid()}"
        tmp.mkdir()
        try:
            writer(tmp)
            for file in tmp.rglob("*"):
                if file.is_file():
                    fsync_path(file)
            fsync_path(tmp)
            if verify is not None:
                verify(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_path(self.root)
        pointer_tmp = self.root / f"{TMP_PREFIX}{CURRENT_FILE}-{self._host}-{os.getpid()}"
        try:
            with pointer_tmp.open("w", encoding="utf-8") as handle:
                handle.write(version + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(pointer_tmp, self.pointer)
        except BaseException:
            pointer_tmp.unlink(missing_ok=True)
            shutil.rmtree(final, ignore_errors=True)
            raise
        fsync_path(self.root)
        self.status = StoreStatus(version, "current")
        self.prune(protect={version})
        return version

    def prune(self, protect: set[str] | None = None) -> None:
        """Keep the `keep` newest versions, CURRENT and `protect`; drop older ones.

        Versions newer than CURRENT are a concurrent writer's and are never touched; a
        quarantined version is evidence and stays until `keep` newer quarantines exist.
        """
        keep = set(protect or ())
        current = self.current_version()
        if current:
            keep.add(current)
        versions = self.versions()
        keep.update(versions[: self.keep])
        newest_kept = max(keep) if keep else None
        for name in versions:
            if name not in keep and newest_kept is not None and name < newest_kept:
                shutil.rmtree(self.root / name, ignore_errors=True)
        quarantined = sorted(
            (p for p in self._entries() if p.name.startswith(QUARANTINE_PREFIX)),
            key=lambda p: p.name,
            reverse=True,
        )
        for path in quarantined[self.keep :]:
            shutil.rmtree(path, ignore_errors=True)

    def clean_temp(self) -> int:
        """Remove temporary folders whose writer died (same host, dead pid) or that are stale."""
        removed = 0
        now = time.time()
        for entry in self._entries():
            if not entry.name.startswith(TMP_PREFIX):
                continue
            host, _, pid = entry.name.rpartition("-")
            owner_host = host.rpartition("-")[2]
            dead = owner_host == self._host and pid.isdigit() and not _pid_alive(int(pid))
            try:
                stale = now - entry.stat().st_mtime > STALE_TMP_SECONDS
            except OSError:
                continue
            if dead or stale:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d unfinished %s folder(s) under %s", removed, self.kind, self.root)
        return removed

    def _entries(self) -> list[Path]:
        try:
            return list(self.root.iterdir())
        except OSError:
            return []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
