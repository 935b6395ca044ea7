"""Serving at catalogue sizes up to 1M movies: exact scan vs FAISS, and the candidate hybrid.

Catalogues of 100k and 1M movies are made from the benchmark catalogue's real vectors (each
synthetic movie mixes a real movie's text embedding with a second one plus noise, and takes a
real movie's SVD factors plus noise), so neighbourhoods look like real ones. Per size: exact and
FAISS IVF-SQ8 top-10 over the text vectors and over the SVD factors (inner product through the
MIPS transform), and the SVD + text + popularity blend scored exhaustively vs over candidates
from both indexes plus the most popular movies (backend.ml.candidates.AnnCandidates, the
core's scale variant), with recall@10 against the exhaustive blend.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from backend.ml.base import Recommender, UserHistory
from backend.ml.candidates import AnnCandidates, CandidateSource
from backend.ml.scoring import Catalogue
from scripts.benchmarks.common import log, save_section, stats_ms
from scripts.benchmarks.dataset import ensure, env_for

K = 10
WEIGHTS = {"svd": 1.0, "content_text": 1.0, "popularity": 0.5}
TUNE_RECALL = 0.97


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def synth_catalogue(base: tuple, n: int, seed: int = 0) -> tuple:
    text0, q0, b0, pop0 = base
    rng = np.random.default_rng(seed)
    d = text0.shape[1]
    j, k = rng.integers(0, len(text0), n), rng.integers(0, len(text0), n)
    text = np.empty((n, d), np.float32)
    for start in range(0, n, 100_000):
        sl = slice(start, min(n, start + 100_000))
        block = text0[j[sl]] + 0.5 * text0[k[sl]]
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(0.5 / np.sqrt(d))
        text[sl] = _normalise(block)
    q = q0[j] + 0.5 * q0.std(axis=0) * rng.standard_normal((n, q0.shape[1])).astype(np.float32)
    b = b0[j] + 0.5 * b0.std() * rng.standard_normal(n).astype(np.float32)
    pop = pop0[j] * rng.uniform(0.5, 1.5, n).astype(np.float32)
    return text, q.astype(np.float32), b.astype(np.float32), pop


class SyntheticHybrid(Recommender):
    """SVD + text + popularity over a synthetic catalogue, standardised per user on a sample of
    rows; users are the benchmark's (text profile, (b_u, p_u)) pairs, keyed by user_id. It scores
    any subset of rows, so `AnnCandidates` can rank it over candidates."""

    name = "synthetic_hybrid"

    def __init__(self, catalogue: tuple, mu: float, users: list, sample: int = 5000) -> None:
        self.text, self.q, self.b, self.pop = catalogue
        self.mu = mu
        self.users = users
        rng = np.random.default_rng(0)
        self.sample = np.sort(rng.choice(len(self.text), min(sample, len(self.text)), False))
        self.pop_z = (self.pop - self.pop.mean()) / (self.pop.std() or 1.0)

    @classmethod
    def fit(cls, data, *args, catalogue=None, **params):  # noqa: ANN001, ANN002, ANN003
        raise TypeError("SyntheticHybrid is made from a synthetic catalogue, not fitted")

    def score_rows(self, user: UserHistory, rows: np.ndarray | slice) -> np.ndarray:
        profile, (bu, pu) = self.users[user.user_id]
        svd = np.clip(self.mu + bu + self.b[rows] + self.q[rows] @ pu, 0.5, 5.0)
        text = self.text[rows] @ profile
        ref_svd = np.clip(self.mu + bu + self.b[self.sample] + self.q[self.sample] @ pu, 0.5, 5)
        ref_text = self.text[self.sample] @ profile
        return (
            WEIGHTS["svd"] * (svd - ref_svd.mean()) / (ref_svd.std() or 1.0)
            + WEIGHTS["content_text"] * (text - ref_text.mean()) / (ref_text.std() or 1.0)
            + WEIGHTS["popularity"] * self.pop_z[rows]
        )

    def score(self, user: UserHistory) -> np.ndarray:
        return self.score_rows(user, slice(None))

    def save(self, directory: Path) -> None:
        np.savez(directory / "synthetic.npz", text=self.text, q=self.q, b=self.b, pop=self.pop)
        (directory / "synthetic.json").write_text(json.dumps({"mu": self.mu}))

    @classmethod
    def load(cls, directory: Path) -> SyntheticHybrid:
        """The catalogue and global mean; the users are the benchmark's, given again."""
        arrays = np.load(directory / "synthetic.npz")
        mu = json.loads((directory / "synthetic.json").read_text())["mu"]
        return cls((arrays["text"], arrays["q"], arrays["b"], arrays["pop"]), mu, users=[])


def _timed(fn, queries: list) -> tuple[list, dict]:  # noqa: ANN001
    fn(queries[0])
    out, times = [], []
    for query in queries:
        started = time.perf_counter()
        out.append(fn(query))
        times.append(time.perf_counter() - started)
    return out, stats_ms(times)


def one_size(catalogue: tuple, profiles: np.ndarray, users: list, mu: float) -> dict:
    from threadpoolctl import threadpool_limits

    from backend.ml.ann import ExactIndex, FaissIndex, mips_augment, mips_query, recall_at_k

    text, q, b, _ = catalogue
    n = len(text)
    n_cand = int(np.clip(n // 100, 200, 2000))
    tune, evaluate = profiles[:50], profiles[50:]
    tune_u = [vectors for _, vectors in users[:50]]
    started = time.perf_counter()
    ann_text = FaissIndex("ivf_sq8", tune_queries=tune, target_recall=TUNE_RECALL).build(text)
    text_build = time.perf_counter() - started
    factors = np.hstack([q, b[:, None]]).astype(np.float32)
    augmented, _ = mips_augment(factors)
    mips_tune = mips_query(np.array([np.append(pu, 1.0) for _, pu in tune_u], np.float32))
    ann_svd = FaissIndex("ivf_sq8", tune_queries=mips_tune, target_recall=TUNE_RECALL)
    ann_svd.build(augmented)
    exact = ExactIndex().build(text)
    catalogue_rows = Catalogue(np.arange(n), np.zeros(n))
    hybrid = SyntheticHybrid(catalogue, mu, users).bind(catalogue_rows)
    popular = np.argpartition(-hybrid.pop, n_cand - 1)[:n_cand]
    sources = [
        CandidateSource(ann_text, lambda user: users[user.user_id][0], n_cand),
        CandidateSource(
            ann_svd, lambda user: mips_query(np.append(users[user.user_id][1][1], 1.0)), n_cand
        ),
    ]
    candidates = AnnCandidates(hybrid, sources, always=popular).bind(catalogue_rows)
    evaluated = [UserHistory.of(catalogue_rows, i, [], []) for i in range(50, len(users))]
    with threadpool_limits(1):
        exact_ids, exact_t = _timed(lambda v: exact.search(v, K)[0], list(evaluate))
        ann_ids, ann_t = _timed(lambda v: ann_text.search(v, K)[0], list(evaluate))
        full_ids, full_t = _timed(lambda user: hybrid.rank(user, K), evaluated)
        cand_ids, cand_t = _timed(lambda user: candidates.rank(user, K), evaluated)
    return {
        "movies": n,
        "candidates_per_index": n_cand,
        "exact_text": exact_t,
        "faiss_text": ann_t,
        "faiss_text_recall_at_10": round(recall_at_k(np.array(ann_ids), np.array(exact_ids)), 4),
        "faiss_text_build_seconds": round(text_build, 1),
        "hybrid_exhaustive": full_t,
        "hybrid_candidates": cand_t,
        "hybrid_candidates_recall_at_10": round(
            recall_at_k(np.array(cand_ids), np.array(full_ids)), 4
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="59047,1000000", help="59,047 = MovieLens-25M")
    parser.add_argument("--queries", type=int, default=250, help="50 tune the indexes")
    args = parser.parse_args(argv)
    os.environ.update(env_for(ensure()))
    from backend.database import SessionLocal
    from backend.ml.content import profile_weights, user_profile
    from backend.services import model_data
    from backend.services.recommender_runtime import get_runtime

    runtime = get_runtime()
    with SessionLocal() as db:
        hybrid = runtime.context(db)
        content = runtime.content_for(hybrid.catalogue)
        svd = hybrid.model("svd")
        rows = svd.item_positions(hybrid.catalogue.item_ids)
        known = (rows >= 0) & content.has_text
        base = (
            np.ascontiguousarray(content.text[known], np.float32),
            svd.qi[rows[known]].astype(np.float32),
            svd.bi[rows[known]].astype(np.float32),
            np.log1p(hybrid.catalogue.metadata_votes[known]).astype(np.float32),
        )
        position = {int(m): i for i, m in enumerate(hybrid.catalogue.item_ids[known])}
        profiles, users = [], []
        for user_id in [int(u) for u in svd.user_ids[: args.queries * 2]]:
            items, ratings = model_data.user_ratings(db, user_id)
            picked = np.array([position.get(int(i), -1) for i in items])
            ok = picked >= 0
            profile = user_profile(base[0][picked[ok]], profile_weights(ratings)[ok])
            if profile is not None and svd.user_vector(user_id) is not None:
                profiles.append(profile)
                users.append(svd.user_vector(user_id))
            if len(users) == args.queries:
                break
    figures: dict = {"weights": WEIGHTS, "queries": len(users) - 50, "sizes": {}}
    for n in [int(s) for s in args.sizes.split(",")]:
        log(f"scale: {n:,} movies")
        catalogue = synth_catalogue(base, n)
        vectors = np.asarray(profiles, np.float32)
        pairs = list(zip(vectors, users, strict=True))
        result = one_size(catalogue, vectors, pairs, svd.global_mean)
        figures["sizes"][str(n)] = result
        log(f"scale {n:,}: {result}")
        del catalogue
    save_section("scale_serving", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
