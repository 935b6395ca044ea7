"""The default catalogue: MovieLens ml-latest-small, from a local copy or downloaded once."""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.models import Movie
from backend.services.importer import ImportStats, import_movielens

log = logging.getLogger(__name__)


class CatalogUnavailable(RuntimeError):
    """No local copy configured and the download failed (e.g. offline)."""


def is_empty(db: Session) -> bool:
    return (db.scalar(select(func.count(Movie.id))) or 0) == 0


def download_movielens(settings: Settings) -> Path:
    """Download (once) and unpack ml-latest-small under DATA_DIR, checking its sha256."""
    target = settings.data_dir / "downloads"
    target.mkdir(parents=True, exist_ok=True)
    archive = target / Path(settings.movielens_url).name
    if not archive.is_file():
        try:
            with httpx.stream(
                "GET", settings.movielens_url, timeout=httpx.Timeout(10.0), follow_redirects=True
            ) as response:
                response.raise_for_status()
                partial = archive.with_suffix(".part")
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes():
                        handle.write(chunk)
                partial.replace(archive)
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(
                f"could not download {settings.movielens_url} ({type(exc).__name__}); offline? "
                "Point CATALOG_DIR at a local ml-latest-small folder (and optionally "
                "CATALOG_METADATA_CSV and CATALOG_POSTERS_DIRS)"
            ) from exc
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if settings.movielens_sha256 and digest != settings.movielens_sha256:
        archive.unlink()
        raise CatalogUnavailable(
            f"{archive.name}: sha256 {digest} does not match "
            f"MOVIELENS_SHA256; the download was removed"
        )
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(target)
    folder = target / archive.stem
    return folder if folder.is_dir() else target


def prepare_default_catalog(db: Session, settings: Settings) -> ImportStats | None:
    """Import the default catalogue when the database has no movies; None when not needed."""
    if not is_empty(db):
        return None
    directory = settings.catalog_dir or download_movielens(settings)
    return import_movielens(
        db,
        Path(directory),
        metadata=settings.catalog_metadata_csv,
        posters=[Path(p) for p in settings.catalog_posters_dirs],
        posters_cache=settings.posters_dir,
    )
