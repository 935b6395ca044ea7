"""Peers the hybrid is measured against, on the same splits and the same `Recommender`
interface: ItemKNN (cosine item-item), EASE with its ridge tuned on a train-only temporal
validation split, and implicit's ALS tuned the same way (evaluation-only dependency)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse

from backend.ml.base import Recommender, UserHistory
from backend.ml.interactions import Interactions
from backend.ml.item_model import ItemItemModel
from backend.ml.metrics import ndcg_at_k
from backend.ml.scoring import Catalogue
from backend.ml.splits import temporal_split

EASE_GRID = (250.0, 500.0, 1000.0)
# Peers' EASE covers movies with at least this many training ratings (the inversion costs
# items^3; on ml-latest-small this keeps 6.3k of 9.7k movies and a quarter of the time).
EASE_MIN_SUPPORT = 2
ALS_GRID = ((64, 0.05), (128, 0.1), (64, 1.0))  # (factors, regularization)


def user_item_matrix(data: Interactions, catalogue: Catalogue) -> sparse.csr_matrix:
    """Binary (users x catalogue rows) matrix; users in `np.unique(data.user_ids)` order."""
    users, u = np.unique(data.user_ids, return_inverse=True)
    rows = catalogue.positions(data.item_ids)
    ok = rows >= 0
    return sparse.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (u[ok], rows[ok])),
        shape=(len(users), len(catalogue.item_ids)),
    )


class RandomRanker(Recommender):
    """Uniformly random scores: the floor every method must clear."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.catalogue = None

    @classmethod
    def fit(cls, data: Interactions, catalogue: Catalogue, seed: int = 0) -> RandomRanker:  # type: ignore[override]  # noqa: ARG003
        return cls(seed).bind(catalogue)

    def _align(self, catalogue: Catalogue) -> None:
        self._rng = np.random.default_rng(self.seed)

    def score(self, user: UserHistory) -> np.ndarray:  # noqa: ARG002 - random for everyone
        return self._rng.random(len(self.catalogue.item_ids))

    def save(self, directory: Path) -> None:
        (directory / "random.txt").write_text(str(self.seed))

    @classmethod
    def load(cls, directory: Path) -> RandomRanker:
        return cls(int((directory / "random.txt").read_text()))


class ItemKNN(Recommender):
    """Cosine item-item neighbours (k per item) over who rated what."""

    name = "itemknn"

    def __init__(self, sim: sparse.csr_matrix | None = None) -> None:
        self.sim = sim
        self.catalogue = None

    @classmethod
    def fit(cls, data: Interactions, catalogue: Catalogue, k: int = 100) -> ItemKNN:  # type: ignore[override]
        x = user_item_matrix(data, catalogue)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        gram = (x.T @ x).toarray()
        sim = gram / np.maximum(np.outer(norms, norms), 1e-12)
        np.fill_diagonal(sim, 0.0)
        if sim.shape[0] > k:
            cut = -np.partition(-sim, k - 1, axis=0)[k - 1]
            sim = np.where(sim >= cut[None, :], sim, 0.0)
        return cls(sparse.csr_matrix(sim.astype(np.float32))).bind(catalogue)

    def score(self, user: UserHistory) -> np.ndarray:
        rows = user.rows[user.rows >= 0]
        return np.asarray(self.sim[rows].sum(axis=0)).ravel()

    def save(self, directory: Path) -> None:
        sparse.save_npz(directory / "itemknn.npz", self.sim)

    @classmethod
    def load(cls, directory: Path) -> ItemKNN:
        return cls(sparse.load_npz(directory / "itemknn.npz").tocsr())


def _validation_ndcg(make, data: Interactions, catalogue: Catalogue, k: int = 10) -> float:  # noqa: ANN001
    """NDCG@k of a model fitted on each user's earlier 80% of `data`, on their latest 20%."""
    train_mask, val_mask = temporal_split(data, 0.2)
    train, val = data.subset(train_mask), data.subset(val_mask)
    model = make(train)
    by_user, held = train.by_user(), val.by_user()
    users = sorted(set(by_user) & set(held))
    recs, relevant = [], []
    for u in users:
        recs.append(model.rank(UserHistory.of(catalogue, u, *by_user[u]), k))
        relevant.append(catalogue.positions(held[u][0]))
    return ndcg_at_k(recs, relevant, k)


def tuned_ease(data: Interactions, catalogue: Catalogue) -> tuple[ItemItemModel, dict]:
    """EASE (no neighbour pruning) with the ridge that wins on a train-only validation split."""
    n = len(catalogue.item_ids)

    def make(l2: float):  # noqa: ANN202
        return lambda d: ItemItemModel.fit(
            d, l2=l2, max_items=n, neighbours=n, catalogue=catalogue, min_support=EASE_MIN_SUPPORT
        )

    scores = {l2: _validation_ndcg(make(l2), data, catalogue) for l2 in EASE_GRID}
    best = max(scores, key=scores.get)
    return make(best)(data), {"l2": best, "validation_ndcg@10": scores}


class ALS(Recommender):
    """implicit's AlternatingLeastSquares on binary who-rated-what (confidence 1 + `alpha`)."""

    name = "als"

    def __init__(self, items: np.ndarray, users: np.ndarray, user_ids: np.ndarray, params: dict):
        self.item_factors, self.user_factors = items, users
        self.user_ids, self.params = user_ids, params
        self._users = {int(u): k for k, u in enumerate(user_ids)}
        self.catalogue = None

    @classmethod
    def fit(  # type: ignore[override]
        cls, data: Interactions, catalogue: Catalogue, factors: int = 64,
        regularization: float = 0.05, alpha: float = 10.0,
    ) -> ALS:  # fmt: skip
        from implicit.cpu.als import AlternatingLeastSquares

        algo = AlternatingLeastSquares(
            factors=factors, regularization=regularization, alpha=alpha, iterations=15,
            random_state=42,
        )  # fmt: skip
        algo.fit(user_item_matrix(data, catalogue), show_progress=False)
        params = {"factors": factors, "regularization": regularization, "alpha": alpha}
        users = np.unique(data.user_ids)
        return cls(
            np.asarray(algo.item_factors), np.asarray(algo.user_factors), users, params
        ).bind(catalogue)

    def score(self, user: UserHistory) -> np.ndarray:
        k = self._users.get(int(user.user_id)) if user.user_id is not None else None
        return self.item_factors @ (self.user_factors[k] if k is not None else self.fold_in(user))

    def fold_in(self, user: UserHistory) -> np.ndarray:
        """The ALS user step for someone it was not trained on (one small linear system)."""
        y = self.item_factors
        seen = y[user.rows[user.rows >= 0]]
        alpha, reg = self.params["alpha"], self.params["regularization"]
        gram = y.T @ y + alpha * seen.T @ seen + reg * np.eye(y.shape[1])
        return np.linalg.solve(gram, (1.0 + alpha) * seen.sum(axis=0))

    def save(self, directory: Path) -> None:
        params = {k: np.array(v) for k, v in self.params.items()}
        np.savez(directory / "als.npz", items=self.item_factors, users=self.user_factors,
                 user_ids=self.user_ids, **params)  # fmt: skip

    @classmethod
    def load(cls, directory: Path) -> ALS:
        with np.load(directory / "als.npz") as a:
            params = {k: float(a[k]) for k in ("factors", "regularization", "alpha")}
            return cls(a["items"], a["users"], a["user_ids"], params)


def tuned_als(data: Interactions, catalogue: Catalogue) -> tuple[ALS, dict]:
    def make(factors: int, reg: float):  # noqa: ANN202
        return lambda d: ALS.fit(d, catalogue, factors=factors, regularization=reg)

    scores = {f"{f}/{r}": _validation_ndcg(make(f, r), data, catalogue) for f, r in ALS_GRID}
    best = max(scores, key=scores.get)
    factors, reg = best.split("/")
    return make(int(factors), float(reg))(data), {"factors/reg": best, "validation_ndcg@10": scores}
