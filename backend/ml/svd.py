"""SVD collaborative filtering: trained by scikit-surprise, served by vectorised numpy.

Surprise maps raw ids to inner indices and, for a pair it cannot fully predict, falls back to the
biases it knows ("prediction impossible" degrades to mu + b_u or mu + b_i). `score_items` mirrors
that exactly, for every item at once: mu + b_u + b_i + q_i . p_u, clipped to the rating scale.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from backend.ml.artifacts import new_version
from backend.ml.base import Recommender, UserHistory
from backend.ml.ids import IdLookup
from backend.ml.interactions import Interactions
from backend.ml.scoring import Catalogue

RATING_SCALE = (0.5, 5.0)
# Ridge strength for fold-in: strong enough that 1-3 ratings give small, sane factors.
FOLD_IN_RIDGE = 1.0


@dataclass(frozen=True)
class SVDParams:
    n_factors: int = 100
    n_epochs: int = 20
    lr_all: float = 0.005
    reg_all: float = 0.02
    random_state: int = 42


@dataclass
class SVDModel(Recommender):
    global_mean: float
    user_ids: np.ndarray
    item_ids: np.ndarray
    bu: np.ndarray
    bi: np.ndarray
    pu: np.ndarray
    qi: np.ndarray
    reg: float = 0.02
    meta: dict = field(default_factory=dict)

    name = "svd"

    def __post_init__(self) -> None:
        self._user_index = {int(u): k for k, u in enumerate(self.user_ids)}
        self._item_lookup = IdLookup(self.item_ids)
        self.catalogue = None

    # ---------------------------------------------------------------- training
    @classmethod
    def fit(  # type: ignore[override]
        cls, data: Interactions, params: SVDParams | None = None, catalogue: Catalogue | None = None
    ) -> SVDModel:
        """Train with scikit-surprise (`SVDModel.fit(data)`); bound to `catalogue` if given."""
        from surprise import SVD

        params = params or SVDParams()
        started = time.perf_counter()
        trainset = build_trainset(data)
        init = IdSeededInit(trainset, params.random_state)
        algo = SVD(**{**asdict(params), "random_state": init})
        algo.fit(trainset)
        model = cls.from_surprise(algo)
        model.meta.update(
            {
                "n_ratings": len(data),
                "n_users": data.n_users,
                "n_items": data.n_items,
                "params": params.__dict__,
                "train_seconds": round(time.perf_counter() - started, 3),
            }
        )
        return model.bind(catalogue) if catalogue is not None else model

    @classmethod
    def from_surprise(cls, algo) -> SVDModel:  # noqa: ANN001
        trainset = algo.trainset
        user_ids = np.array(
            [trainset.to_raw_uid(u) for u in range(trainset.n_users)], dtype=np.int64
        )
        item_ids = np.array(
            [trainset.to_raw_iid(i) for i in range(trainset.n_items)], dtype=np.int64
        )
        return cls(
            global_mean=float(trainset.global_mean),
            user_ids=user_ids,
            item_ids=item_ids,
            bu=np.asarray(algo.bu, dtype=np.float64),
            bi=np.asarray(algo.bi, dtype=np.float64),
            pu=np.asarray(algo.pu, dtype=np.float64),
            qi=np.asarray(algo.qi, dtype=np.float64),
            reg=float(algo.reg_pu),
            meta={"version": new_version(), "trained_at": datetime.now(UTC).isoformat()},
        )

    # ---------------------------------------------------------------- lookup
    def knows_user(self, user_id: int) -> bool:
        return int(user_id) in self._user_index

    def item_positions(self, item_ids: np.ndarray) -> np.ndarray:
        """Inner index of each raw item id, -1 for items the model has never seen."""
        return self._item_lookup(item_ids)

    # ---------------------------------------------------------------- scoring
    def user_vector(self, user_id: int) -> tuple[float, np.ndarray] | None:
        k = self._user_index.get(int(user_id))
        return None if k is None else (float(self.bu[k]), self.pu[k])

    def score_items(
        self,
        item_ids: np.ndarray,
        user_id: int | None = None,
        user_vector: tuple[float, np.ndarray] | None = None,
        clip: bool = True,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ratings for all `item_ids` at once and a mask of items the model knows.

        The user comes from the model (`user_id`) or from a fold-in (`user_vector`); without
        either only the item biases apply, exactly as surprise does for an unknown user.
        """
        pos = self.item_positions(item_ids)
        vec = (
            user_vector
            if user_vector is not None
            else (self.user_vector(user_id) if user_id is not None else None)
        )
        return self._estimate(pos, vec, clip), pos >= 0

    def predict_pairs(self, user_ids: np.ndarray, item_ids: np.ndarray) -> np.ndarray:
        """Vectorised predict() for many (user, item) pairs, same fallbacks as surprise."""
        upos = np.array(
            [self._user_index.get(int(u), -1) for u in np.asarray(user_ids)], dtype=np.int64
        )
        ku, su = upos >= 0, np.maximum(upos, 0)
        vectors = (np.where(ku, self.bu[su], 0.0), np.where(ku[:, None], self.pu[su], 0.0))
        return self._estimate(self.item_positions(item_ids), vectors, clip=True, rowwise=True)

    def _estimate(
        self,
        pos: np.ndarray,
        vector: tuple[np.ndarray | float, np.ndarray] | None,
        clip: bool,
        rowwise: bool = False,
    ) -> np.ndarray:
        """The one SVD formula: mu + b_u + b_i + q_i . p_u, terms the model lacks left out.

        `vector` is one user's (b_u, p_u), or with `rowwise` one (b_u, p_u) per position.
        """
        known = pos >= 0
        safe = np.maximum(pos, 0)
        est = self.global_mean + np.where(known, self.bi[safe], 0.0)
        if vector is not None:
            b_u, p_u = vector
            dot = np.einsum("ij,ij->i", self.qi[safe], p_u) if rowwise else self.qi[safe] @ p_u
            est = est + b_u + np.where(known, dot, 0.0)
        return np.clip(est, *RATING_SCALE) if clip else est

    # ---------------------------------------------------------------- Recommender interface
    def _align(self, catalogue: Catalogue) -> None:
        self._rows = self.item_positions(catalogue.item_ids)
        known = self._rows >= 0
        safe = np.maximum(self._rows, 0)
        # Gathered once per catalogue so a request is one contiguous matrix-vector product;
        # float32 halves the memory traffic without changing rankings.
        self._base = self.global_mean + np.where(known, self.bi[safe], 0.0)
        self._factors = np.where(known[:, None], self.qi[safe], 0.0).astype(np.float32)
        self.known_rows = known

    def user_factors(self, user: UserHistory) -> tuple[float, np.ndarray] | None:
        """Trained factors for a known user, a fold-in of their ratings otherwise."""
        if user.user_id is not None and self.knows_user(user.user_id):
            return self.user_vector(user.user_id)
        return self.fold_in(user.item_ids, user.ratings) if len(user) else None

    def score(self, user: UserHistory) -> np.ndarray:
        """Predicted stars for every catalogue row (the same formula as `score_items`)."""
        return self.predict_rows(self.user_factors(user))

    def score_rows(self, user: UserHistory, rows: np.ndarray) -> np.ndarray:
        """`score(user)[rows]` without scoring the rest of the catalogue."""
        vector = self.user_factors(user)
        base = self._base[rows]
        if vector is None:
            return np.clip(base, *RATING_SCALE)
        factors = np.asarray(vector[1], dtype=np.float32)
        return np.clip(base + vector[0] + self._factors[rows] @ factors, *RATING_SCALE)

    def predict_rows(self, vector: tuple[float, np.ndarray] | None) -> np.ndarray:
        if vector is None:
            return np.clip(self._base, *RATING_SCALE)
        # (base + b_u) + q . p_u, clipped: the sums of `score_items`, in one array
        stars = np.add(self._base, vector[0])
        stars += self._factors @ np.asarray(vector[1], dtype=np.float32)
        return np.clip(stars, *RATING_SCALE, out=stars)

    def predict(self, user_id: int, item_id: int) -> float:
        return float(self.score_items(np.array([item_id]), user_id=user_id)[0][0])

    def fold_in(self, item_ids: np.ndarray, ratings: np.ndarray) -> tuple[float, np.ndarray] | None:
        """User bias and factors for a user the model was not trained on (ridge least squares).

        Solves min sum (r - mu - b_i - b_u - q_i.p_u)^2 + reg (b_u^2 + |p_u|^2) over the items the
        model knows; one small linear system, no retraining.
        """
        pos = self.item_positions(np.asarray(item_ids))
        keep = pos >= 0
        if not keep.any():
            return None
        q = self.qi[pos[keep]]
        residual = (
            np.asarray(ratings, dtype=np.float64)[keep] - self.global_mean - self.bi[pos[keep]]
        )
        design = np.hstack([np.ones((q.shape[0], 1)), q])
        reg = FOLD_IN_RIDGE
        gram = design.T @ design + reg * np.eye(design.shape[1])
        solution = np.linalg.solve(gram, design.T @ residual)
        return float(solution[0]), solution[1:]

    # ---------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(
            directory / "svd.npz",
            global_mean=np.array([self.global_mean]),
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            bu=self.bu,
            bi=self.bi,
            pu=self.pu,
            qi=self.qi,
            reg=np.array([self.reg]),
        )
        (directory / "svd.json").write_text(json.dumps(self.meta, indent=2, default=str))

    @classmethod
    def load(cls, directory: Path) -> SVDModel:
        with np.load(directory / "svd.npz") as arrays:
            model = cls(
                global_mean=float(arrays["global_mean"][0]),
                user_ids=arrays["user_ids"],
                item_ids=arrays["item_ids"],
                bu=arrays["bu"],
                bi=arrays["bi"],
                pu=arrays["pu"],
                qi=arrays["qi"],
                reg=float(arrays["reg"][0]),
            )
        model.meta = json.loads((directory / "svd.json").read_text())
        return model


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A 64-bit integer hash (SplitMix64's finaliser), elementwise; wraps around by design."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def id_normals(ids: np.ndarray, n: int, seed: int) -> np.ndarray:
    """(len(ids), n) standard normals, each row a function of its id and `seed` alone."""
    base = _splitmix64(np.asarray(ids).astype(np.int64).view(np.uint64) ^ np.uint64(seed))
    keys = _splitmix64(base[:, None] + np.arange(2 * n, dtype=np.uint64)[None, :])
    uniform = ((keys >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)
    u1, u2 = uniform[:, :n], uniform[:, n:]
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


class IdSeededInit(np.random.RandomState):
    """The RNG surprise's SVD draws its starting factors from, users' first, then movies'.

    Drawn from one stream, one user more in a retrain shifted every movie's starting factors,
    and the retrained model reshuffled lists (ml-100k: 10 new ratings moved 10% of everyone's
    top-10). Here each user's and movie's starting factors are a function of its raw id.
    """

    def __init__(self, trainset, seed: int) -> None:  # noqa: ANN001 - a surprise Trainset
        super().__init__(seed)
        users = [trainset.to_raw_uid(u) for u in range(trainset.n_users)]
        items = [trainset.to_raw_iid(i) for i in range(trainset.n_items)]
        self._pending = [(np.array(users), 2 * seed), (np.array(items), 2 * seed + 1)]

    def normal(self, loc=0.0, scale=1.0, size=None):  # noqa: ANN001, ANN201 - RandomState's
        if not self._pending or size is None or size[0] != len(self._pending[0][0]):
            raise RuntimeError(
                "surprise's SVD drew its starting factors in an unexpected way (IdSeededInit "
                "expects one (users, factors) draw, then one (items, factors) draw)"
            )
        ids, salt = self._pending.pop(0)
        return loc + scale * id_normals(ids, size[1], salt)


def build_trainset(data: Interactions):  # noqa: ANN201
    """A surprise Trainset built straight from arrays (raw ids stay ints)."""
    from surprise import Dataset, Reader

    reader = Reader(rating_scale=RATING_SCALE)
    rows = list(
        zip(
            data.user_ids.tolist(),
            data.item_ids.tolist(),
            data.ratings.tolist(),
            [None] * len(data),
            strict=True,
        )
    )
    return Dataset(reader=reader).construct_trainset(rows)
