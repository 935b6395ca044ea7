"""Top-k vector search behind one interface: an exact numpy scan or a faiss ANN index.

Both score by inner product, which is cosine similarity on the unit vectors of the embedding
index and maximum inner product (MIPS) on SVD item factors. `make_index` picks the backend: the
exact scan is faster and simpler for a catalogue of a few tens of thousands of movies; from
`min_items_for_ann` movies on (and with faiss installed) an IVF index answers in a few
milliseconds where the scan takes tens or hundreds.

    index = make_index("auto", n_items=len(ids), min_items_for_ann=50_000)
    index.build(vectors, ids)
    top_ids, top_scores = index.search(query, k=10)    # (k,) for a (d,) query, (q, k) for (q, d)
    index.save(directory); index = load_index(directory)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Literal

import numpy as np

Backend = Literal["auto", "exact", "faiss"]
META_FILE = "ann.json"
TARGET_RECALL = 0.95
METHODS = ("ivf_sq8", "ivf", "hnsw")
_TUNE_QUERIES = 64
_TUNE_K = 10


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def _as_queries(queries: np.ndarray, dim: int) -> tuple[np.ndarray, bool]:
    q = np.asarray(queries, dtype=np.float32)
    single = q.ndim == 1
    q = np.ascontiguousarray(q.reshape(1, -1) if single else q)
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"queries must have {dim} columns, got shape {np.shape(queries)}")
    return q, single


def _check_build(vectors: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if matrix.ndim != 2:
        raise ValueError(f"vectors must be 2-d, got shape {matrix.shape}")
    if ids is None:
        ids = np.arange(matrix.shape[0])
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if ids.shape[0] != matrix.shape[0]:
        raise ValueError(f"{ids.shape[0]} ids for {matrix.shape[0]} vectors")
    return matrix, ids


def exact_top_k(matrix: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row positions and scores of the k largest inner products per query, best first."""
    n = matrix.shape[0]
    k = min(int(k), n)
    if k <= 0:
        empty = np.zeros((queries.shape[0], 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    scores = queries @ matrix.T  # (q, n) float32
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), (queries.shape[0], n)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def mips_augment(vectors: np.ndarray, max_norm: float | None = None) -> tuple[np.ndarray, float]:
    """Maximum inner product search as nearest-neighbour search (Bachrach et al., 2014).

    Appends sqrt(M^2 - |x|^2) to every item vector, so all have norm M; a query padded with 0
    (`mips_query`) keeps its inner products, and ranking by inner product is now ranking by
    distance, which IVF clustering handles well. Use it for SVD item factors [q_i, b_i].
    """
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1)
    m = float(norms.max(initial=0.0)) if max_norm is None else float(max_norm)
    extra = np.sqrt(np.maximum(m * m - norms * norms, 0.0)).astype(np.float32)
    return np.ascontiguousarray(np.hstack([x, extra[:, None]])), m


def mips_query(queries: np.ndarray) -> np.ndarray:
    """Pad queries with the zero column that `mips_augment` expects."""
    q = np.asarray(queries, dtype=np.float32)
    pad = np.zeros(q.shape[:-1] + (1,), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate([q, pad], axis=-1))


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the true top-k ids present in the found top-k ids (per query)."""
    found, truth = np.atleast_2d(found), np.atleast_2d(truth)
    hits = [
        len(set(f.tolist()) & set(t.tolist())) / max(len(t), 1)
        for f, t in zip(found, truth, strict=True)
    ]
    return float(np.mean(hits)) if hits else 1.0


class VectorIndex:
    """Common API; subclasses implement `_build`, `_search_rows`, `_save` and `_load`."""

    kind = "base"

    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.dim = 0

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorIndex:
        matrix, ids = _check_build(vectors, ids)
        self.ids, self.dim = ids, int(matrix.shape[1])
        self._build(matrix)
        return self

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, scores float32), best first: shape (k,) for one query, (q, k) for many.

        Fewer than k results come back when the index holds fewer than k vectors.
        """
        return self._answer(queries, k, self._search_rows)

    def candidates(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Like `search`, but the order and scores may be approximate (no exact re-ranking):
        for callers that re-score the returned ids themselves, e.g. a blend over candidates."""
        return self._answer(queries, k, self._candidate_rows)

    def _answer(self, queries: np.ndarray, k: int, rows_fn) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
        q, single = _as_queries(queries, self.dim)
        rows, scores = rows_fn(q, min(int(k), len(self)))
        ids = np.where(rows >= 0, self.ids[np.maximum(rows, 0)], -1)
        scores = scores.astype(np.float32, copy=False)
        return (ids[0], scores[0]) if single else (ids, scores)

    def _candidate_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._search_rows(queries, k)

    def save(self, directory: Path | str) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "ids.npy", self.ids, allow_pickle=False)
        meta = {"kind": self.kind, "dim": self.dim, "n": len(self), **self._meta()}
        self._save(directory)
        (directory / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path | str) -> VectorIndex:
        """Load whichever backend `directory` holds (`ExactIndex.load` works for both)."""
        directory = Path(directory)
        meta = json.loads((directory / META_FILE).read_text())
        target = {"exact": ExactIndex, "faiss": FaissIndex}.get(meta.get("kind"))
        if target is None:
            raise ValueError(f"unknown index kind {meta.get('kind')!r} in {directory}")
        index = target.__new__(target)
        VectorIndex.__init__(index)
        index.ids = np.load(directory / "ids.npy", allow_pickle=False)
        index.dim = int(meta["dim"])
        index._load(directory, meta)
        return index

    # -- hooks
    def _build(self, matrix: np.ndarray) -> None:
        raise NotImplementedError

    def _search_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _meta(self) -> dict:
        return {}

    def _save(self, directory: Path) -> None:
        raise NotImplementedError

    def _load(self, directory: Path, meta: dict) -> None:
        raise NotImplementedError


class ExactIndex(VectorIndex):
    """Brute force: one float32 matrix product and an argpartition. Always the true top-k."""

    kind = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.matrix = np.zeros((0, 0), dtype=np.float32)

    def _build(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def _search_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_top_k(self.matrix, queries, k)

    def _save(self, directory: Path) -> None:
        np.save(directory / "vectors.npy", self.matrix, allow_pickle=False)

    def _load(self, directory: Path, meta: dict) -> None:
        self.matrix = np.load(directory / "vectors.npy", mmap_mode="r", allow_pickle=False)


class FaissIndex(VectorIndex):
    """faiss inner-product index: IVF-SQ8 with exact re-ranking (default), IVF-Flat or HNSW.

    "ivf_sq8" scans 8-bit scalar-quantised vectors in the probed lists (a quarter of the bytes
    of float32, which is what bounds a scan on CPU) and re-ranks `refine_factor` x k of them
    with the float32 vectors, so its recall is that of IVF-Flat at the same nprobe, at about
    half the latency on 1M x 384 (docs/performance.md). "ivf" is plain IVF-Flat, "hnsw" a graph
    (fast at high recall, but minutes to build for 1M vectors on 2 cores).

    `build` trains the index, then tunes the search breadth (nprobe for IVF, efSearch for HNSW)
    to the smallest value that reaches `target_recall` recall@10 against the exact answer on a
    sample of queries (stored vectors plus noise, or `tune_queries` when given).
    """

    kind = "faiss"

    def __init__(
        self,
        method: Literal["ivf_sq8", "ivf", "hnsw"] = "ivf_sq8",
        nlist: int | None = None,
        refine_factor: int = 4,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        target_recall: float = TARGET_RECALL,
        tune_queries: np.ndarray | None = None,
        train_sample: int = 100_000,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        self.method = method
        self.nlist = nlist
        self.refine_factor = refine_factor
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.target_recall = target_recall
        self.tune_queries = tune_queries
        self.train_sample = train_sample
        self.threads = threads
        self.seed = seed
        self.nprobe = 1
        self.ef_search = 16
        self.tuned_recall: float | None = None
        self._index = None  # what is searched
        self._ivf = None  # the IVF part (nprobe lives there)
        self._keep: list = []  # faiss objects the python side must keep alive

    # -- building
    def _build(self, matrix: np.ndarray) -> None:
        import faiss

        if self.threads:
            faiss.omp_set_num_threads(int(self.threads))
        n, d = matrix.shape
        if self.method == "hnsw":
            index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.add(matrix)
        else:
            # 4 sqrt(n) lists (4,000 for 1M: short lists, so a wide nprobe stays cheap);
            # at least 39 training points per centroid.
            nlist = self.nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
            self.nlist = nlist
            quantizer = faiss.IndexFlatIP(d)
            if self.method == "ivf_sq8":
                ivf = faiss.IndexIVFScalarQuantizer(
                    quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
                index = faiss.IndexRefineFlat(ivf)
                index.k_factor = float(self.refine_factor)
            else:
                ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
                index = ivf
            self._keep = [quantizer, ivf]
            rng = np.random.default_rng(self.seed)
            sample = min(n, max(39 * nlist, min(self.train_sample, 64 * nlist)))
            train = matrix if sample >= n else matrix[np.sort(rng.choice(n, sample, False))]
            ivf.cp.seed = self.seed
            ivf.cp.niter = 10
            index.train(train)
            index.add(matrix)
            self._ivf = ivf
        self._index = index
        self.tune(self.tune_queries, matrix)
        self.tune_queries = None

    def _apply_breadth(self) -> None:
        if self.method == "hnsw":
            self._index.hnsw.efSearch = int(self.ef_search)
        else:
            self._ivf.nprobe = int(self.nprobe)

    def tune(self, queries: np.ndarray | None = None, matrix: np.ndarray | None = None) -> float:
        """Smallest nprobe / efSearch with recall@10 >= target on `queries`; returns the recall."""
        if matrix is None:
            raise ValueError("tune needs the indexed vectors for the exact answer")
        n = matrix.shape[0]
        k = min(_TUNE_K, n)
        if queries is None:
            rng = np.random.default_rng(self.seed + 1)
            rows = rng.choice(n, min(_TUNE_QUERIES, n), replace=False)
            base = matrix[rows]
            # Noise of half each vector's length: near, but not on, a stored vector.
            scale = 0.5 * np.linalg.norm(base, axis=1, keepdims=True) / math.sqrt(base.shape[1])
            queries = base + rng.normal(0, 1, base.shape) * scale
        queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
        truth, _ = exact_top_k(matrix, queries, k)
        if self.method == "hnsw":
            candidates = [16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024]
        else:
            limit = int(self.nlist)
            steps = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, limit)
            candidates = sorted({min(p, limit) for p in steps})
        recall = 0.0
        for value in candidates:
            if self.method == "hnsw":
                self.ef_search = max(value, k)
            else:
                self.nprobe = value
            self._apply_breadth()
            _, found = self._index.search(queries, k)
            recall = recall_at_k(found, truth)
            if recall >= self.target_recall:
                break
        self.tuned_recall = recall
        return recall

    # -- searching
    def _search_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k <= 0:
            empty = np.zeros((queries.shape[0], 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        scores, rows = self._index.search(queries, k)
        return rows.astype(np.int64, copy=False), scores

    def _candidate_rows(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.method != "ivf_sq8" or k <= 0:
            return self._search_rows(queries, k)
        scores, rows = self._ivf.search(queries, k)  # 8-bit scores, no float32 re-rank
        return rows.astype(np.int64, copy=False), scores

    @property
    def breadth(self) -> int:
        return int(self.ef_search if self.method == "hnsw" else self.nprobe)

    # -- persistence
    def _meta(self) -> dict:
        return {
            "method": self.method,
            "nlist": self.nlist,
            "refine_factor": self.refine_factor,
            "hnsw_m": self.hnsw_m,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
            "tuned_recall": self.tuned_recall,
            "target_recall": self.target_recall,
        }

    def _save(self, directory: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(directory / "faiss.index"))

    def _load(self, directory: Path, meta: dict) -> None:
        import faiss

        self.method = meta.get("method", "ivf_sq8")
        self.nlist = meta.get("nlist")
        self.refine_factor = int(meta.get("refine_factor") or 4)
        self.hnsw_m = int(meta.get("hnsw_m") or 32)
        self.ef_construction = 80
        self.nprobe = int(meta.get("nprobe") or 1)
        self.ef_search = int(meta.get("ef_search") or 16)
        self.tuned_recall = meta.get("tuned_recall")
        self.target_recall = float(meta.get("target_recall") or TARGET_RECALL)
        self.threads, self.seed, self.train_sample, self.tune_queries = None, 0, 100_000, None
        raw = faiss.read_index(str(directory / "faiss.index"))
        self._keep = [raw]  # owns the C++ index: the downcast views below borrow from it
        self._index = faiss.downcast_index(raw)
        if self.method == "ivf_sq8":
            self._index.k_factor = float(self.refine_factor)
            self._ivf = faiss.downcast_index(self._index.base_index)
        elif self.method == "ivf":
            self._ivf = self._index
        self._apply_breadth()


def load_index(directory: Path | str) -> VectorIndex:
    return VectorIndex.load(directory)


def make_index(
    backend: Backend = "auto", n_items: int = 0, min_items_for_ann: int = 50_000, **faiss_options
) -> VectorIndex:
    """An unbuilt index: "exact", "faiss", or "auto" (faiss from `min_items_for_ann` items on,
    when faiss is installed; the exact scan below that)."""
    if backend == "exact":
        return ExactIndex()
    if backend == "faiss":
        if not faiss_available():
            raise RuntimeError(
                "ANN_BACKEND=faiss but faiss is not installed (pip install faiss-cpu)"
            )
        return FaissIndex(**faiss_options)
    if backend != "auto":
        raise ValueError(f"unknown ANN backend {backend!r}: use auto, exact or faiss")
    if n_items >= min_items_for_ann and faiss_available():
        return FaissIndex(**faiss_options)
    return ExactIndex()
