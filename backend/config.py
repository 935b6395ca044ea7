"""All configuration in one place: environment variables (or a `.env` file) read once."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "dev-insecure-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- service -----------------------------------------------------------------------------
    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    static_dir: Path = Path(__file__).resolve().parent / "static"

    # --- auth --------------------------------------------------------------------------------
    secret_key: str = DEFAULT_SECRET_KEY
    access_token_expire_minutes: int = Field(default=60, gt=0)
    password_min_length: int = Field(default=8, ge=1)
    # Failed logins are counted per (username, client address), so nobody can lock an account's
    # owner out from elsewhere, plus a larger budget per address across all usernames.
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=300, gt=0)
    login_lockout_seconds: int = Field(default=60, ge=0)
    login_address_max_failures: int = Field(default=50, ge=1)
    registrations_per_address: int = Field(default=10, ge=1)
    registration_window_seconds: int = Field(default=3600, gt=0)
    # Counters shared by every worker live in the database, or in Redis when REDIS_URL is set
    # (redis_url, with the recommendation cache below).

    # --- catalogue ---------------------------------------------------------------------------
    movielens_url: str = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"
    movielens_sha256: str = "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"
    catalog_dir: Path | None = None
    catalog_metadata_csv: Path | None = None
    catalog_posters_dirs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    tmdb_api_key: str = ""
    tmdb_api_url: str = "https://api.themoviedb.org/3"
    tmdb_image_url: str = "https://image.tmdb.org/t/p/w185"
    tmdb_requests_per_second: float = Field(default=20.0, gt=0)
    tmdb_max_retries: int = Field(default=3, ge=0)

    # --- SVD ---------------------------------------------------------------------------------
    svd_n_factors: int = Field(default=100, ge=1)
    svd_n_epochs: int = Field(default=20, ge=1)
    svd_lr_all: float = Field(default=0.005, gt=0)
    svd_reg_all: float = Field(default=0.02, ge=0)
    svd_random_state: int = 42
    svd_holdout_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    svd_retrain_hours: float = Field(default=24.0, gt=0)
    popularity_prior_strength: float = Field(default=10.0, ge=0)
    item_model_l2: float = Field(default=200.0, gt=0)
    item_model_max_items: int = Field(default=20000, ge=1)

    # --- embeddings --------------------------------------------------------------------------
    text_model: str = ""
    # Short batches of similar length pad least: 32 measured faster than 64 on CPU.
    text_batch_size: int = 32
    # auto: int8 ONNX Runtime on CPU when installed (per-channel int8 weights: faster, vectors
    # within ~1% cosine of PyTorch's, docs/performance.md), PyTorch on CUDA; onnx: fp32 ONNX
    # Runtime (PyTorch's vectors); torch: PyTorch.
    text_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    image_weights: Path | None = None
    image_weights_download: bool = True
    image_random_weights: bool = False
    image_batch_size: int = 32
    image_workers: int = 2
    embedding_device: Literal["auto", "cpu", "cuda"] = "auto"
    embedding_rebuild_hours: float = 6.0
    build_index_on_startup: bool = True
    text_weight: float = 1.0
    image_weight: float = 0.3
    ann_backend: Literal["auto", "exact", "faiss"] = "auto"
    ann_min_items: int = 50000

    # --- HTTP server and limits (`python -m backend.cli api` passes them to uvicorn) -----------
    host: str = "127.0.0.1"
    port: int = 8000
    web_concurrency: int = 2
    max_body_bytes: int = 1_000_000  # larger request bodies get 413 before being read
    max_header_bytes: int = 16_384  # larger request heads get 400 (backend.server.protocol)
    request_read_timeout_seconds: float = 20.0  # a request's head and body must arrive in this
    keep_alive_timeout_seconds: float = 5.0
    max_connections: int = 400  # per worker; beyond it uvicorn answers 503
    # uvicorn's line per request on stdout (off: /metrics has request counts and latencies by
    # route and status, and a reverse proxy usually logs requests; a line costs CPU per request).
    access_log: bool = False
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated, "*" for any;
    # empty: none, the client address is the TCP peer).
    forwarded_allow_ips: str = ""

    # --- jobs (run by the worker process: `python -m backend.cli worker`) ----------------------
    scheduler_enabled: bool = True  # the worker requests periodic rebuilds and retraining
    job_poll_seconds: float = 1.0

    # --- serving -----------------------------------------------------------------------------
    train_on_startup: bool = True
    model_reload_check_seconds: float = 2.0
    diversity_lambda: float = 0.0
    # BLAS threads in the API process: requests already run in parallel, and 2-thread BLAS calls
    # from many request threads oversubscribe the cores (0 keeps the library default).
    serving_blas_threads: int = 1
    # Cache misses ranked at once per API process (the rest wait their turn): more threads only
    # take turns on the GIL and evict each other's data from the CPU caches.
    ranking_concurrency: int = Field(default=2, ge=1)
    # Recommendation cache: in-process LRU; shared by every process through Redis when
    # REDIS_URL is set, else through recommendation_cache_dir (on one machine; `api` and `run`
    # set DATA_DIR/cache/recommendations when they start several workers), each process keeping
    # an LRU in front. Keys carry every version an answer depends on, so the TTL only bounds
    # memory. max_entries bounds each process's LRU, dir_mb the directory.
    recommendation_cache: bool = True
    recommendation_cache_ttl_seconds: float = Field(default=6 * 3600, gt=0)
    recommendation_cache_max_entries: int = Field(default=20_000, ge=1)
    recommendation_cache_dir: Path | None = None
    recommendation_cache_dir_mb: int = Field(default=256, ge=1)
    redis_url: str = ""  # the login throttle's counters too

    # --- experiments and feedback ------------------------------------------------------------
    # A rating counts for the most recent list that showed the movie within this window.
    attribution_window_hours: float = Field(default=24.0, gt=0)
    impression_flush_seconds: float = Field(default=0.2, gt=0)
    impression_batch_size: int = Field(default=500, ge=1)
    impression_queue_max: int = Field(default=100_000, ge=1)

    @field_validator("cors_origins", "catalog_posters_dirs", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("recommendation_cache_dir", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        """`RECOMMENDATION_CACHE_DIR=` (as in .env.example) means none, not the working dir."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'app.db').as_posix()}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def embeddings_dir(self) -> Path:
        return self.data_dir / "embeddings"

    @property
    def posters_dir(self) -> Path:
        return self.data_dir / "posters"

    @property
    def locks_dir(self) -> Path:
        return self.data_dir / "locks"

    def check_secure(self) -> None:
        """Refuse to run outside development with a guessable signing key."""
        if self.env != "development" and self.secret_key in ("", DEFAULT_SECRET_KEY):
            raise RuntimeError(
                f"SECRET_KEY must be set to a strong random value when ENV={self.env} "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )


@lru_cache
def get_settings() -> Settings:
    return Settings()
