"""The process-wide recommender state: current models, embedding index and catalogue.

Requests read an immutable snapshot; training and index builds publish a new version to disk and
swap the snapshot in one assignment, so serving never sees a half-updated model. Every process on
the same DATA_DIR notices a newer version on disk (a cheap read of the CURRENT pointers) and loads
it without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.ml.ann import ExactIndex, VectorIndex, make_index
from backend.ml.artifacts import ArtifactStore
from backend.ml.device import resolve_device
from backend.ml.hybrid import HybridRecommender
from backend.ml.image_encoder import ImageEncoder, ImageWeightsUnavailable
from backend.ml.index_store import BuildStats, EmbeddingIndex, IndexStore, build_index
from backend.ml.popularity import bayesian_average
from backend.ml.scoring import Catalogue, ContentMatrices
from backend.ml.svd import SVDParams
from backend.ml.text_encoder import BUILD_PROGRESS_FILE, TextEncoder
from backend.ml.training import TrainParams, train_hybrid
from backend.services import model_data

log = logging.getLogger(__name__)

PRIOR_TTL_SECONDS = 30.0


@dataclass
class BuildReport:
    version: str
    stats: BuildStats
    total_movies: int


@dataclass
class RuntimeEvents:
    """Counters and timestamps the metrics endpoint and status pages read."""

    index_builds: int = 0  # fields named after the jobs: see succeeded() and failed()
    index_build_failures: int = 0
    last_index_build_at: str | None = None
    last_index_build_seconds: float | None = None
    trainings: int = 0
    training_failures: int = 0
    last_training_at: str | None = None
    last_training_seconds: float | None = None
    last_error: str | None = None
    image_status: str = "not loaded"

    def succeeded(self, job: str, seconds: float) -> None:
        """Count a finished `job` ("index_build" or "training") and when and how long it ran."""
        setattr(self, f"{job}s", getattr(self, f"{job}s") + 1)
        setattr(self, f"last_{job}_at", datetime.now(UTC).isoformat())
        setattr(self, f"last_{job}_seconds", round(seconds, 3))

    def failed(self, job: str, exc: Exception) -> None:
        setattr(self, f"{job}_failures", getattr(self, f"{job}_failures") + 1)
        self.last_error = f"{job.replace('_', ' ')}: {exc}"


class RecommenderRuntime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_store = ArtifactStore(settings.models_dir / "bundles", kind="model bundle")
        self.index_store = IndexStore(settings.embeddings_dir)
        self.model_store.clean_temp()
        self.index_store.store.clean_temp()
        self.events = RuntimeEvents()
        self.bundle: HybridRecommender | None = None
        self.index: EmbeddingIndex | None = None
        self._catalogue: Catalogue | None = None
        self._context_cache: dict[str, HybridRecommender] = {}
        self._content_cache: tuple[str, ContentMatrices] | None = None
        self._lock = threading.RLock()
        self._last_check = 0.0
        self._catalogue_checked = 0.0
        self._prior_cache: tuple[str, float, np.ndarray] | None = None
        self._ann_cache: tuple[str, VectorIndex | None] | None = None
        self._text_encoder: TextEncoder | None = None
        self._image_encoder: ImageEncoder | None = None
        self._image_checked = False
        self.device = "cpu"
        self.building_index = False
        self.training = False

    # ------------------------------------------------------------------ loading
    def load_from_disk(self) -> None:
        self._load_bundle_if_newer()
        self._load_index_if_newer()

    def reload_due(self) -> bool:
        """Whether `maybe_reload` would look for a newer bundle or index now (a clock read)."""
        return time.monotonic() - self._last_check >= self.settings.model_reload_check_seconds

    def maybe_reload(self) -> None:
        if not self.reload_due():
            return
        self._last_check = time.monotonic()
        self._load_bundle_if_newer()
        self._load_index_if_newer()

    def _load_bundle_if_newer(self) -> None:
        current = self.bundle.version if self.bundle is not None else None
        loaded = self.model_store.load(load_bundle, loaded_version=current)
        if loaded is None:
            return
        bundle = loaded.value
        with self._lock:
            self.bundle = bundle
            self._context_cache.clear()
        log.info(
            "model bundle %s loaded (%s ratings)", bundle.version, bundle.meta.get("n_ratings")
        )

    def _load_index_if_newer(self) -> None:
        current = self.index.version if self.index is not None else None
        index = self.index_store.load(loaded_version=current)
        if index is None:
            return
        with self._lock:
            self.index = index
            self._content_cache = None
            self._context_cache.clear()
        log.info("embedding index %s loaded (%d movies)", index.version, len(index))

    # ------------------------------------------------------------------ catalogue / context
    def catalogue(self, db: Session) -> Catalogue:
        """All movie ids; re-read when the movies table changed (checked every few seconds)."""
        cached = self._catalogue
        now = time.monotonic()
        if (
            cached is not None
            and now - self._catalogue_checked < self.settings.model_reload_check_seconds
        ):
            return cached
        version = model_data.catalogue_version(db)
        self._catalogue_checked = now
        if cached is not None and cached.version == version:
            return cached
        catalogue = model_data.load_catalogue(db)
        with self._lock:
            self._catalogue = catalogue
            self._context_cache.clear()
            self._content_cache = None
        return catalogue

    def content_for(self, catalogue: Catalogue) -> ContentMatrices | None:
        index = self.index
        if index is None:
            return None
        key = f"{index.version}|{catalogue.version}"
        cached = self._content_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        content = align_content(index, catalogue.item_ids, key)
        self._content_cache = (key, content)
        return content

    def context(self, db: Session) -> HybridRecommender | None:
        """The current hybrid bound to the current catalogue and index (None before training)."""
        self.maybe_reload()
        bundle = self.bundle
        if bundle is None:
            return None
        catalogue = self.catalogue(db)
        content = self.content_for(catalogue)
        key = f"{bundle.version}|{catalogue.version}|{content.version if content else ''}"
        ctx = self._context_cache.get(key)
        if ctx is None:
            ctx = bundle.bind(catalogue, content)
            with self._lock:
                self._context_cache = {key: ctx}
        return ctx

    def neighbour_index(self, content: ContentMatrices) -> VectorIndex | None:
        """An ANN index over the text vectors for large catalogues (ANN_BACKEND, ANN_MIN_ITEMS).

        None means "scan exactly": below the threshold one matrix product is faster than any
        index. Ids in the index are catalogue row positions.
        """
        if content.text is None:
            return None
        cached = self._ann_cache
        if cached is not None and cached[0] == content.version:
            return cached[1]
        rows = np.flatnonzero(content.has_text)
        index = make_index(self.settings.ann_backend, len(rows), self.settings.ann_min_items)
        if isinstance(index, ExactIndex):
            built = None
        else:
            started = time.perf_counter()
            vectors = np.ascontiguousarray(content.text[rows])
            index.build(vectors, rows)
            recall = index.tune(matrix=vectors)
            log.info(
                "ANN index over %d text vectors built in %.1f s (recall@10 %.3f)",
                len(rows),
                time.perf_counter() - started,
                recall,
            )
            built = index
        self._ann_cache = (content.version, built)
        return built

    def popularity_prior(self, db: Session, catalogue: Catalogue) -> np.ndarray:
        """Bayesian average rating of every catalogue movie over the ratings table.

        It moves slowly (one rating barely shifts it), so it is recomputed at most every
        PRIOR_TTL_SECONDS instead of on every request.
        """
        cached = self._prior_cache
        now = time.monotonic()
        if (
            cached is not None
            and cached[0] == catalogue.version
            and now - cached[1] < PRIOR_TTL_SECONDS
        ):
            return cached[2]
        ids, sums, counts = model_data.rating_stats(db)
        total = counts.sum()
        mean = float(sums.sum() / total) if total else 3.5
        pos = catalogue.positions(ids)
        ok = pos >= 0
        aligned_sums = np.zeros(len(catalogue.item_ids))
        aligned_counts = np.zeros(len(catalogue.item_ids))
        aligned_sums[pos[ok]] = sums[ok]
        aligned_counts[pos[ok]] = counts[ok]
        prior = bayesian_average(
            aligned_sums, aligned_counts, mean, self.settings.popularity_prior_strength
        )
        self._prior_cache = (catalogue.version, now, prior)
        return prior

    # ------------------------------------------------------------------ encoders
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            self.device = resolve_device(self.settings.embedding_device)
            self._text_encoder = TextEncoder(
                self.settings.text_model,
                device=self.device,
                batch_size=self.settings.text_batch_size,
                backend=self.settings.text_backend,
                onnx_dir=self.settings.models_dir / "onnx",
            )
        return self._text_encoder

    def image_encoder(self) -> ImageEncoder | None:
        if not self._image_checked:
            self._image_checked = True
            s = self.settings
            try:
                self._image_encoder = ImageEncoder(
                    weights_path=s.image_weights,
                    allow_download=s.image_weights_download,
                    random_weights=s.image_random_weights,
                    device=resolve_device(s.embedding_device),
                    batch_size=s.image_batch_size,
                    workers=s.image_workers,
                )
                encoder = self._image_encoder
                self.events.image_status = (
                    f"pretrained ({encoder.weights_source})"
                    if encoder.pretrained
                    else "random weights (IMAGE_RANDOM_WEIGHTS=true, for tests only): "
                    "poster embeddings are built but not used for scoring"
                )
            except ImageWeightsUnavailable as exc:
                self._image_encoder = None
                self.events.image_status = f"no pretrained ResNet50 weights: {exc}"
                log.warning("poster embeddings disabled: %s", exc)
        return self._image_encoder

    # ------------------------------------------------------------------ jobs
    def build_index(
        self, db: Session, max_movies: int | None = None, progress: bool = False
    ) -> BuildReport:
        started = time.perf_counter()
        self.building_index = True
        # Progress goes to a file beside the index: API processes read it for /embeddings/status.
        self.text_encoder().report_progress(self.settings.embeddings_dir / BUILD_PROGRESS_FILE)
        try:
            items = model_data.movie_contents(db, max_movies=max_movies)
            previous = self.index_store.load()
            index, stats = build_index(
                items,
                self.text_encoder(),
                self.image_encoder(),
                previous=previous,
                device=self.device,
                progress=progress,
            )
            if max_movies is not None and previous is not None and len(index) < len(previous):
                # A partial build (max_movies) never replaces a fuller published index.
                log.warning(
                    "partial index build (%d movies) not published: the live index has %d",
                    len(index),
                    len(previous),
                )
                version = previous.version
            elif stats.encoded_text or stats.encoded_images or stats.dropped or previous is None:
                version = self.index_store.save(index)
                loaded = self.index_store.load()
                with self._lock:
                    self.index = loaded or index
                    self._content_cache = None
                    self._context_cache.clear()
            else:
                version = previous.version
                with self._lock:
                    self.index = previous
            elapsed = time.perf_counter() - started
            self.events.succeeded("index_build", elapsed)
            log.info(
                "embedding index %s ready: %d text and %d poster encodings, %d reused, "
                "%d dropped, %d posters failed, %.1f s",
                version,
                stats.encoded_text,
                stats.encoded_images,
                stats.reused,
                stats.dropped,
                stats.failed_images,
                elapsed,
            )
            return BuildReport(version, stats, len(items))
        except Exception as exc:
            self.events.failed("index_build", exc)
            raise
        finally:
            self.building_index = False
            self.text_encoder().report_progress(None)

    def train(self, db: Session) -> HybridRecommender:
        started = time.perf_counter()
        self.training = True
        try:
            interactions = model_data.load_interactions(db)
            if len(interactions) == 0:
                raise ValueError("there are no ratings to train on")
            catalogue = self.catalogue(db)
            self._load_index_if_newer()
            content = self.content_for(catalogue)
            log.info(
                "training on %d ratings of %d movies, %s",
                len(interactions),
                len(catalogue.item_ids),
                f"with text signals (index {self.index.version})"
                if content is not None and self.index is not None
                else "without text signals (no embedding index yet)",
            )
            bundle = train_hybrid(
                interactions, catalogue, content, self.train_params(), previous=self.bundle
            )
            self.model_store.publish(
                bundle.save, bundle.version, verify=lambda d: load_bundle(d, named=False)
            )
            with self._lock:
                self.bundle = bundle
                self._context_cache.clear()
            elapsed = time.perf_counter() - started
            self.events.succeeded("training", elapsed)
            log.info(
                "models %s trained on %d ratings in %.1f s (held-out SVD RMSE %s)",
                bundle.version,
                len(interactions),
                elapsed,
                bundle.meta.get("holdout_rmse"),
            )
            return bundle
        except Exception as exc:
            self.events.failed("training", exc)
            raise
        finally:
            self.training = False

    def train_params(self) -> TrainParams:
        s = self.settings
        return TrainParams(
            svd=SVDParams(**{f.name: getattr(s, f"svd_{f.name}") for f in fields(SVDParams)}),
            item_l2=s.item_model_l2,
            item_max_items=s.item_model_max_items,
            validation_fraction=s.svd_holdout_fraction * 2,
            seed=s.svd_random_state,
        )


def load_bundle(directory: Path, named: bool = True) -> HybridRecommender:
    """Load a bundle and check what loading alone does not (a store quarantines it otherwise)."""
    bundle = HybridRecommender.load(directory)
    if not isinstance(bundle.meta, dict):
        raise ValueError("meta.json is not a JSON object")
    if named and bundle.version != directory.name:
        raise ValueError(f"meta.json names version {bundle.version!r}, not its folder")
    return bundle


def align_content(index: EmbeddingIndex, item_ids: np.ndarray, version: str) -> ContentMatrices:
    """The index's vectors in catalogue row order. When the index holds the catalogue's movies
    in its order (an index built from this catalogue) the vectors are the index's own
    memory-mapped float32 arrays, not a copy: every serving worker then reads the same
    physical pages, which stay in the shared CPU cache for all of them (a miss reads the
    whole 15 MB text matrix on ml-latest-small)."""
    rows = index.rows_for(item_ids)
    present = rows >= 0
    safe = np.maximum(rows, 0)
    same_order = bool(present.all()) and np.array_equal(rows, np.arange(len(index)))
    text = _aligned(index.text, present, safe, same_order)
    pretrained = bool(index.manifest.get("image_pretrained"))
    has_image = present & np.asarray(index.has_image)[safe]
    image = None
    if pretrained and has_image.any():
        image = _aligned(index.image, has_image, safe, same_order and bool(has_image.all()))
    return ContentMatrices(
        text=text,
        image=image,
        has_text=present,
        has_image=has_image,
        image_pretrained=pretrained,
        version=version,
    )


def _aligned(
    vectors: np.ndarray, present: np.ndarray, rows: np.ndarray, same_order: bool
) -> np.ndarray:
    array = np.asarray(vectors)
    if same_order and array.dtype == np.float32:
        return array
    return np.where(present[:, None], array[rows], 0.0).astype(np.float32)


_runtime: RecommenderRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime(settings: Settings | None = None) -> RecommenderRuntime:
    """The shared runtime of this process, loaded from disk on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            from backend.config import get_settings

            _runtime = RecommenderRuntime(settings or get_settings())
            _runtime.load_from_disk()
        return _runtime


_blas_pinned = False


def pin_serving_blas(settings: Settings) -> None:
    """Pin BLAS to SERVING_BLAS_THREADS for this process, once (0 leaves the default).

    Serving runs many small products, often from several threads: multi-threaded BLAS calls then
    oversubscribe the cores. The API pins in its lifespan; library users (the facades) here.
    """
    global _blas_pinned
    if _blas_pinned or settings.serving_blas_threads <= 0:
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=settings.serving_blas_threads, user_api="blas")
    _blas_pinned = True


def reset_runtime(runtime: RecommenderRuntime | None = None) -> None:
    global _runtime
    with _runtime_lock:
        _runtime = runtime
