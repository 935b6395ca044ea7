"""TMDB client and enrichment: fill missing overviews, votes, dates and posters from TMDB.

`TMDBClient` wraps httpx with a rate limiter (minimum interval between requests), retries on 429
(honouring Retry-After), 5xx and transport errors with exponential backoff, and never shows the
API key in a message or log line. `enrich_movies` walks movies that have a `tmdb_id` and are
missing an overview or a poster, and commits in batches.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.models import Movie

log = logging.getLogger(__name__)

_API_KEY_RE = re.compile(r"(api_key=)[^&\s\"']+")
_MAX_BACKOFF = 30.0
_MAX_RETRY_AFTER = 120.0
_IMAGE_TYPES = ("image/",)
_NEUTRAL_TYPES = ("", "application/octet-stream", "binary/octet-stream")


def mask_api_key(text: str, api_key: str | None = None) -> str:
    """Replace `api_key=...` query values (and the literal key, when given) with `***`."""
    text = _API_KEY_RE.sub(r"\1***", text)
    if api_key:
        text = text.replace(api_key, "***")
    return text


class _RedactFilter(logging.Filter):
    """Masks `api_key=` in httpx's own request log lines ("HTTP Request: GET https://...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - never break logging
            return True
        if "api_key=" in message:
            record.msg = mask_api_key(message)
            record.args = ()
        return True


_redact_installed = False


def _install_redaction() -> None:
    global _redact_installed
    if not _redact_installed:
        logging.getLogger("httpx").addFilter(_RedactFilter())
        _redact_installed = True


class TMDBError(RuntimeError):
    """A TMDB request that failed for good; the message is one line and has no API key."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal  # e.g. a rejected API key: no point trying other movies


class RateLimiter:
    """At most `rate` calls per second: waits until `1/rate` seconds after the previous call."""

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._sleep = sleep
        self._clock = clock
        self._next_at: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._next_at is not None and now < self._next_at:
                self._sleep(self._next_at - now)
                now = self._next_at
            self._next_at = now + self.interval


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _parse_date(value: Any) -> date | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value == value and value not in (float("inf"), float("-inf")) else None


class TMDBClient:
    """A small synchronous TMDB v3 client (movie details and poster images)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.themoviedb.org/3",
        image_url: str = "https://image.tmdb.org/t/p/w185",
        requests_per_second: float = 20.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not api_key:
            raise ValueError("a TMDB API key is required (TMDB_API_KEY)")
        _install_redaction()
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.image_url = image_url.rstrip("/")
        self.max_retries = max(0, int(max_retries))
        self._sleep = sleep
        self._limiter = RateLimiter(requests_per_second, sleep=sleep, clock=clock)
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=True,
            headers={"Accept": "application/json", "User-Agent": "movie-recommender/0.1"},
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> TMDBClient:
        return cls(
            settings.tmdb_api_key,
            base_url=settings.tmdb_api_url,
            image_url=settings.tmdb_image_url,
            requests_per_second=settings.tmdb_requests_per_second,
            max_retries=settings.tmdb_max_retries,
            **kwargs,
        )

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TMDBClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------------
    def _mask(self, text: str) -> str:
        return mask_api_key(text, self.api_key)

    def _backoff(self, attempt: int) -> float:
        return min(_MAX_BACKOFF, 0.5 * 2**attempt)

    def _get(self, url: str, *, params: dict | None = None, what: str) -> httpx.Response:
        """GET with rate limiting and retries; returns any response that is not retried.

        `what` names the request in messages (never the full URL, which carries the key).
        """
        attempts = self.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            self._limiter.wait()
            try:
                response = self._http.get(url, params=params)
            except httpx.TransportError as exc:
                detail = self._mask(str(exc)).splitlines()[0] if str(exc) else ""
                problem = f"{type(exc).__name__}{': ' + detail if detail else ''}"
                delay = self._backoff(attempt)
            else:
                if response.status_code == 429:
                    problem = "HTTP 429 (rate limited)"
                    retry_after = _retry_after(response)
                    if retry_after is not None and retry_after > _MAX_RETRY_AFTER:
                        raise TMDBError(
                            f"TMDB {what}: rate limited, Retry-After {retry_after:.0f} s is "
                            "too long to wait"
                        )
                    delay = max(self._backoff(attempt), retry_after or 0.0)
                elif response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                    delay = self._backoff(attempt)
                else:
                    return response
            if attempt + 1 < attempts:
                log.debug("TMDB %s: %s; retrying in %.1f s", what, problem, delay)
                self._sleep(delay)
        raise TMDBError(f"TMDB {what} failed after {attempts} attempt(s): {problem}")

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (401, 403):
            raise TMDBError(
                f"TMDB {what}: HTTP {response.status_code}, the API key was rejected "
                "(check TMDB_API_KEY)",
                fatal=True,
            )
        if response.status_code >= 400:
            raise TMDBError(f"TMDB {what}: HTTP {response.status_code}")

    def fetch_movie(self, tmdb_id: int) -> dict | None:
        """Details of one movie, or None when TMDB does not know the id (404)."""
        what = f"GET /movie/{int(tmdb_id)}"
        response = self._get(
            f"{self.base_url}/movie/{int(tmdb_id)}", params={"api_key": self.api_key}, what=what
        )
        if response.status_code == 404:
            return None
        self._check(response, what)
        try:
            data = response.json()
        except ValueError as exc:
            raise TMDBError(f"TMDB {what}: the response is not JSON") from exc
        if not isinstance(data, dict):
            raise TMDBError(f"TMDB {what}: unexpected response shape")
        vote_average = _number(data.get("vote_average"))
        if vote_average is not None:
            vote_average = min(10.0, max(0.0, vote_average))
        vote_count = _number(data.get("vote_count"))
        poster_path = data.get("poster_path")
        return {
            "overview": (data.get("overview") or "").strip()
            if isinstance(data.get("overview"), str)
            else "",
            "poster_path": poster_path if isinstance(poster_path, str) and poster_path else None,
            "vote_average": vote_average,
            "vote_count": max(0, int(vote_count)) if vote_count is not None else None,
            "release_date": _parse_date(data.get("release_date")),
            "popularity": max(0.0, _number(data.get("popularity")) or 0.0),
        }

    def download_poster(self, poster_path: str, dest: Path) -> Path | None:
        """Save the poster at `dest` (atomically); None when TMDB has no such image.

        An existing non-empty `dest` is reused without a request.
        """
        dest = Path(dest)
        if dest.is_file() and dest.stat().st_size > 0:
            return dest
        if not poster_path or "://" in poster_path or ".." in poster_path:
            return None
        what = f"GET image {poster_path}"
        response = self._get(f"{self.image_url}/{poster_path.lstrip('/')}", what=what)
        if response.status_code == 404:
            return None
        self._check(response, what)
        content = response.content
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if not content or not _is_image(content, content_type):
            log.warning("TMDB %s: not an image (content-type %r)", what, content_type)
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp_name, dest)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return dest


def _is_image(content: bytes, content_type: str) -> bool:
    """Image by content-type; without a telling one (octet-stream), PIL must be able to read it."""
    if content_type.startswith(_IMAGE_TYPES):
        return True
    if content_type not in _NEUTRAL_TYPES:
        return False
    try:
        from PIL import Image

        with Image.open(BytesIO(content)) as image:
            image.verify()
    except Exception:  # noqa: BLE001 - anything PIL cannot read is not a poster
        return False
    return True


@dataclass
class EnrichResult:
    """What one TMDB enrichment run changed, and what it could not."""

    updated: int = 0
    posters: int = 0
    not_found: int = 0
    failed: int = 0

    def summary(self) -> str:
        return (
            f"TMDB: {self.updated} movies updated, {self.posters} posters downloaded, "
            f"{self.not_found} not found, {self.failed} failed"
        )


def _apply(movie: Movie, details: dict) -> bool:
    """Fill what the movie lacks from TMDB details; True when anything changed."""
    changed = False
    had_tmdb_data = bool(movie.overview) and bool(movie.poster_path)
    if not movie.overview and details.get("overview"):
        movie.overview = details["overview"]
        changed = True
    if not movie.poster_path and details.get("poster_path"):
        movie.poster_path = details["poster_path"]
        changed = True
    # Votes: only replace MovieLens-derived numbers (no TMDB data on the movie yet).
    vote_average, vote_count = details.get("vote_average"), details.get("vote_count")
    if not had_tmdb_data and vote_average is not None and vote_count:
        movie.vote_average = min(10.0, max(0.0, float(vote_average)))
        movie.vote_count = int(vote_count)
        changed = True
    if movie.release_date is None and details.get("release_date"):
        movie.release_date = details["release_date"]
        if movie.year is None:
            movie.year = movie.release_date.year
        changed = True
    if not movie.popularity and details.get("popularity"):
        movie.popularity = float(details["popularity"])
        changed = True
    return changed


def enrich_movies(
    db: Session,
    client: TMDBClient,
    posters_dir: Path,
    limit: int | None = None,
    *,
    batch_size: int = 50,
    max_consecutive_failures: int = 10,
) -> EnrichResult:
    """Fill movies with a tmdb_id that miss an overview, a poster path or a poster file.

    Posters go to `posters_dir/<movie.id>.jpg`. Progress is committed every `batch_size`
    movies, so an interrupted run keeps what it did; a rejected key (or too many failures in a
    row) stops the run with `TMDBError` after committing.
    """
    posters_dir = Path(posters_dir)
    query = (
        select(Movie)
        .where(Movie.tmdb_id.is_not(None))
        .where(
            or_(
                Movie.overview.is_(None),
                Movie.overview == "",
                Movie.poster_path.is_(None),
                Movie.poster_file.is_(None),
            )
        )
        .order_by(Movie.id)
    )
    if limit is not None:
        query = query.limit(max(0, limit))
    movies = list(db.scalars(query))
    result = EnrichResult()
    consecutive_failures = 0
    try:
        for done, movie in enumerate(movies, start=1):
            try:
                changed = False
                if not movie.overview or not movie.poster_path:
                    details = client.fetch_movie(movie.tmdb_id)
                    if details is None:
                        result.not_found += 1
                    else:
                        changed = _apply(movie, details)
                if movie.poster_path and not movie.poster_file:
                    saved = client.download_poster(
                        movie.poster_path, posters_dir / f"{movie.id}.jpg"
                    )
                    if saved is not None:
                        movie.poster_file = str(saved)
                        result.posters += 1
                        changed = True
                if changed:
                    result.updated += 1
                consecutive_failures = 0
            except TMDBError as exc:
                if exc.fatal:
                    raise
                result.failed += 1
                consecutive_failures += 1
                log.warning("movie %s (tmdb %s): %s", movie.id, movie.tmdb_id, exc)
                if consecutive_failures >= max_consecutive_failures:
                    raise TMDBError(
                        f"stopping after {consecutive_failures} failed movies in a row "
                        f"(last: {exc})"
                    ) from exc
            if done % batch_size == 0:
                db.commit()
        db.commit()
    except TMDBError:
        db.commit()  # keep what was filled before the failure
        raise
    except BaseException:
        db.rollback()
        raise
    return result
