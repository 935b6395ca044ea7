"""The hybrid: itself a `Recommender` over the signal models, and the one ranking entry point.

Every signal (SVD, EASE item-item and its recency-weighted view, popularity and trending, TMDB
vote counts, content text / watch / image) scores all catalogue rows for a user; the blend
standardises them per user and combines them with weights learned on a temporal validation
split (backend.ml.training).
Collaborative signals are shrunk by each movie's support, n / (n + SUPPORT_SHRINKAGE), so a
movie one person rated cannot outrank well-known ones on a lucky factor. The service, the
evaluation, the monitor and the benchmarks all call `rank` (and `explain` for reasons).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backend.ml.aligned_content import FILE as ALIGNED_FILE
from backend.ml.aligned_content import AlignedContentModel
from backend.ml.base import Recommender, UserHistory
from backend.ml.blender import (
    BlendWeights,
    LinearBlend,
    feature_matrix,
    mmr_rerank,
    standardise,
)
from backend.ml.candidates import BlendCandidates, RowFeatures
from backend.ml.cold_blend import ColdUserBlends
from backend.ml.content import ContentModel, matrix_moments, score_together, standardised_rows
from backend.ml.interactions import Interactions
from backend.ml.item_model import EASE_SIGNALS, ItemItemModel
from backend.ml.popularity import MetadataPopularity, PopularityModel
from backend.ml.scoring import Catalogue, ContentMatrices, top_n
from backend.ml.size_policy import SizePolicy
from backend.ml.svd import SVDModel
from backend.ml.text_pruning import prunable_basis, pruned_text_z, text_basis

SUPPORT_SHRINKAGE = 5.0
# The "item_recent" signal's half-life in ratings, unless training chose one (meta).
RECENT_HALF_LIFE = 10.0
COLLABORATIVE = ("svd", *EASE_SIGNALS)
CONTENT = ("content_text", "content_cf", "content_watch", "content_image")
POPULAR = ("popularity", "trending", "metadata_popularity")
LIKED_RATING = 4.0  # on the 0.5-5 star scale: a rating that reads as "liked"
FAIR_RATING = 3.5  # what a reason may name when the user rated nothing LIKED_RATING or more
# A collaborative reason names movie X only when X is real evidence for the pick: the pick is
# among the REASON_TOP_NEIGHBOURS movies most watched with X (by X's row of B), or among the
# REASON_NEIGHBOURS most watched with it and X gives at least REASON_MIN_SHARE of the pick's
# positive EASE score from the user's ratings.
REASON_TOP_NEIGHBOURS = 5
REASON_NEIGHBOURS = 20
REASON_MIN_SHARE = 0.25


def liked_sources(ratings: np.ndarray) -> np.ndarray:
    """The rated movies a reason may name: those rated >= LIKED_RATING, or >= FAIR_RATING for
    a user with none ("viewers of X" for a 2-star rating of X explains nothing)."""
    ratings = np.asarray(ratings, dtype=np.float64)
    liked = ratings >= LIKED_RATING
    return liked if liked.any() else ratings >= FAIR_RATING


@dataclass
class Explanation:
    """Why a movie is in a list: `kind` is collaborative / content / trending / popular / new,
    `source` the index in the user's history of the movie that put it there (-1 for none)."""

    kind: str
    source: int = -1


@dataclass
class Ranking:
    """`scores` are exact on `rows` and on every row that could have been picked; a row that
    could not is NaN (skipped by a pruned text pass) or -inf (outside a large catalogue's
    candidates)."""

    rows: np.ndarray
    scores: np.ndarray
    features: np.ndarray | RowFeatures
    # The rated movies' text vectors the ranking gathered (`ContentModel.rated_vectors`), which
    # the reasons reuse; None where it gathered none.
    rated_text: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class HybridRecommender(Recommender):
    svd: SVDModel
    items: ItemItemModel
    popularity: PopularityModel
    blend_with_content: BlendWeights
    blend_without_content: BlendWeights
    meta: dict = field(default_factory=dict)
    # Blends for users with few ratings (backend.ml.cold_blend); None: the warm blend for all.
    cold_users: ColdUserBlends | None = None
    # What switches with size; at serving, the candidate path for large catalogues.
    size_policy: SizePolicy = field(default_factory=SizePolicy)
    # The content -> EASE map (backend.ml.aligned_content): the "content_cf" signal.
    aligned: AlignedContentModel | None = None

    name = "hybrid"

    def __post_init__(self) -> None:
        self.catalogue = None
        self.content: ContentMatrices | None = None

    @property
    def version(self) -> str:
        return str(self.meta.get("version", ""))

    # ------------------------------------------------------------------ fit / bind
    @classmethod
    def fit(  # type: ignore[override]
        cls,
        data: Interactions,
        catalogue: Catalogue,
        content: ContentMatrices | None = None,
        params=None,  # noqa: ANN001 - backend.ml.training.TrainParams
        previous: HybridRecommender | None = None,
    ) -> HybridRecommender:
        """Train (backend.ml.training.train_hybrid); `previous` is the model being served."""
        from backend.ml.training import train_hybrid

        return train_hybrid(data, catalogue, content, params, previous).bind(catalogue, content)

    def bind(  # type: ignore[override]
        self, catalogue: Catalogue, content: ContentMatrices | None = None
    ) -> HybridRecommender:
        bound = super().bind(catalogue)
        bound.content = content
        bound._models = {
            "svd": self.svd.bind(catalogue),
            "item_item": self.items.bind(catalogue),
            "popularity": self.popularity.bind(catalogue),
            "metadata_popularity": MetadataPopularity().bind(catalogue),
        }
        bound._models["trending"] = bound._models["popularity"].as_trending()
        half_life = self.meta.get("item_recent_half_life", RECENT_HALF_LIFE)
        bound._models["item_recent"] = bound._models["item_item"].as_recent(half_life)
        bound._content = {}
        if content is not None and content.text is not None:
            for kind in ("text", "watch"):
                bound._content["content_" + kind] = ContentModel(kind, content).bind(catalogue)
            if self.aligned is not None:
                bound._content["content_cf"] = self.aligned.with_content(content).bind(catalogue)
            real_image = content.image is not None and content.image_pretrained
            if real_image and content.has_image.any():
                bound._content["content_image"] = ContentModel("image", content).bind(catalogue)
        support = bound._models["popularity"].support
        bound.support = support
        bound.is_cold = support == 0
        bound._cold_rows = np.flatnonzero(bound.is_cold)
        bound._shrink = support / (support + SUPPORT_SHRINKAGE)
        bound._z_cache = {}
        bound._linear_cache = {}
        # The content signals read on cold rows only are standardised by their matrix's moments:
        # computed here, when a model is loaded, rather than by the first requests it serves.
        for name in bound._cold_only_content(bound.blend_with_content.names):
            model = bound._content[name]
            if model.ready:
                matrix_moments(model.content, model._matrix)
        for n in (REASON_TOP_NEIGHBOURS, REASON_NEIGHBOURS):  # B's thresholds the reasons read
            bound._models["item_item"].nth_largest_in_rows(n)
        bound.candidates = BlendCandidates.for_policy(bound, self.size_policy)
        if bound.has_text and bound.candidates is None:  # the basis of the pruned text pass
            text_basis(bound._content["content_text"])
        return bound

    @property
    def has_text(self) -> bool:
        return "content_text" in self._content

    def model(self, name: str) -> Recommender:
        return self._models.get(name) or self._content[name]

    # ------------------------------------------------------------------ scoring
    def user(self, user_id: int | None, item_ids, ratings) -> UserHistory:  # noqa: ANN001
        return UserHistory.of(self.catalogue, user_id, item_ids, ratings)

    def signals(
        self, user: UserHistory, use_content: bool = True, skip: frozenset[str] = frozenset()
    ) -> dict[str, np.ndarray]:
        """Every signal's scores over all catalogue rows for this user (content signals in
        `skip` left out)."""
        out = self._ease_scores(user)
        out.update((n, m.score(user)) for n, m in self._models.items() if n not in EASE_SIGNALS)
        if use_content:
            out.update(
                score_together({n: m for n, m in self._content.items() if n not in skip}, user)
            )
        return out

    def weights(self, use_content: bool, n_ratings: int | None = None) -> BlendWeights:
        """The blend for a user with `n_ratings` ratings: a cold-user blend below
        cold_blend.WARM_FROM ratings (when trained), the warm blend otherwise."""
        use_content = use_content and self.has_text
        if self.cold_users is not None and n_ratings is not None:
            picked = self.cold_users.pick(n_ratings, use_content)
            if picked is not None:
                return picked
        return self.blend_with_content if use_content else self.blend_without_content

    def features(self, signals: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
        """Per-user standardised signals (those the blend uses); collaborative ones shrunk by
        the movie's support."""
        return self._shrunk_matrix(self._z_scores(signals, names), slice(None), names)

    def _shrunk_matrix(
        self, z: dict[str, np.ndarray], rows: np.ndarray | slice, names: list[str]
    ) -> np.ndarray:
        """The blend's feature matrix on `rows` from z-scores taken on those rows: collaborative
        ones shrunk by the movie's support, absent signals zeros."""
        shrink = self._shrink[rows]
        at = {n: v * shrink if n in COLLABORATIVE else v for n, v in z.items()}
        cold = self.is_cold[rows]
        return feature_matrix(at, cold, names, standardised=True, missing=np.zeros(len(cold)))

    def _z_scores(self, signals: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        """The z-scores of the signals the blend `names` use (not yet shrunk)."""
        used = {name.removeprefix("cold_") for name in names}
        return {name: self._standardised(name, v) for name, v in signals.items() if name in used}

    def _linear(self, weights: BlendWeights, z: dict[str, np.ndarray]) -> LinearBlend:
        """The blend `weights` as a `LinearBlend` over this catalogue (built once per weights:
        the popularity kinds' z-scores are the same arrays for everyone)."""
        fixed = {name: z[name] for name in POPULAR if name in z}
        key = (id(weights), *(id(v) for v in fixed.values()))
        cached = self._linear_cache.get(key)
        if cached is None or cached[0] is not weights:
            shrink = {name: self._shrink for name in COLLABORATIVE}
            cached = (weights, fixed, LinearBlend(weights, self.is_cold, fixed, shrink))
            self._linear_cache[key] = cached
        return cached[2]

    def _blend(
        self, user: UserHistory, use_content: bool, top: tuple[int, np.ndarray] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray], BlendWeights, tuple | None]:
        """(blend scores over the catalogue, the z-scores they come from, the weights, the
        rated movies' text vectors when gathered): what `weights.score(blend_features(...))`
        gives, without the feature matrix. With `top` (n, rows never picked) and a text matrix
        large enough (`text_pruning`), the text pass is exact on the rows that can be among the
        n best only; the others' scores are NaN."""
        weights = self.weights(use_content, len(user))
        cold_only = self._cold_only_content(weights.names) if use_content else frozenset()
        text = self._content.get("content_text")
        basis = prunable_basis(text, weights.names) if use_content and top is not None else None
        skip = cold_only | {"content_text"} if basis is not None else cold_only
        z = self._z_scores(self.signals(user, use_content, skip), weights.names)
        # One gather of the rated movies' text vectors for every profile over the text matrix
        # computed here (the full pass's own, in `score_together`, otherwise).
        rated = text.rated_vectors(user) if skip else None
        for name in cold_only:  # zeros on warm rows, where the blend gives them no weight
            model = self._content[name]
            shares = model._matrix is self.content.text and model._present is self.content.has_text
            z[name] = np.zeros(len(self.catalogue.item_ids))
            z[name][self._cold_rows] = standardised_rows(
                model, user, self._cold_rows, rated if shares else None
            )
        linear = self._linear(weights, z)
        scores = linear.score(z, dict.fromkeys(cold_only, self._cold_rows))
        if basis is not None:  # the text term last: the blend's sum in another order (rounding)
            coefficient = linear.coefficients["content_text"]
            profile = text.profile(user, rated) if rated is not None else None
            z["content_text"] = pruned_text_z(text, basis, profile, scores, coefficient, *top)
            scores += z["content_text"] * coefficient
        return scores, z, weights, rated

    def _cold_only_content(self, names: list[str]) -> frozenset[str]:
        """Content signals that the blend `names` weigh on cold movies only (content_watch and
        content_cf in the warm blend): their products are needed on the cold rows only. Every
        content model scores `matrix @ profile`, the form `standardised_rows` needs."""
        cold = {name.removeprefix("cold_") for name in names if name.startswith("cold_")}
        return frozenset(
            name for name in cold - set(names) if isinstance(self._content.get(name), ContentModel)
        )

    def _row_features(
        self, z: dict[str, np.ndarray], rows: np.ndarray, names: list[str]
    ) -> RowFeatures:
        """The rows of `features` for some catalogue rows, from the same z-scores (bit for bit)."""
        rows = np.unique(rows)
        at = {name: v[rows] for name, v in z.items()}
        return RowFeatures(rows, self._shrunk_matrix(at, rows, names))

    def _standardised(self, name: str, values: np.ndarray) -> np.ndarray:
        """z-scores of a signal; a signal that is the same array for everyone (popularity,
        trending, vote counts) is standardised once per bound model, not once per request."""
        cached = self._z_cache.get(name)  # (the array it was computed from, its z-scores)
        if cached is not None and cached[0] is values:
            return cached[1]
        z = standardise(values)
        if name in POPULAR:
            self._z_cache[name] = (values, z)
        return z

    def blend_features(
        self, user: UserHistory, use_content: bool = True
    ) -> tuple[np.ndarray, BlendWeights]:
        """The blend's feature matrix for this user and the weights that score it; `score` and
        `explain` share it, so a request computes every signal once."""
        weights = self.weights(use_content, len(user))
        return self.features(self.signals(user, use_content), weights.names), weights

    def score(self, user: UserHistory, use_content: bool = True) -> np.ndarray:  # type: ignore[override]
        return self._blend(user, use_content)[0]

    def rank(  # type: ignore[override]
        self,
        user: UserHistory,
        k: int,
        exclude: np.ndarray | None = None,
        use_content: bool = True,
    ) -> np.ndarray:
        return self.ranked(user, k, exclude, use_content).rows

    def ranked(
        self,
        user: UserHistory,
        k: int,
        exclude: np.ndarray | None = None,
        use_content: bool = True,
        diversity: float = 0.0,
    ) -> Ranking:
        """The one ranking path (`rank` is its rows): top-k unrated rows by blend score, with
        `diversity` > 0 re-ranked by MMR over story vectors; the scores and features come
        along (those of the picked rows) so reasons need no second pass over the signals."""
        z = rated = None
        skip = user.rows if exclude is None else np.r_[user.rows, np.asarray(exclude, np.int64)]
        varied = diversity > 0 and self.has_text
        if self.candidates is None:  # exact scores on the rows that can reach the top (pool)
            n = k * 5 if varied else k
            scores, z, weights, rated = self._blend(user, use_content, (n, skip))
        else:  # a large catalogue (size_policy): the blend over candidate rows only
            features, weights, scores = self.candidates.blend(self, user, exclude, use_content)
        if not varied:
            rows = top_n(scores, k, skip)
        else:
            pool = top_n(scores, k * 5, skip)
            rows = mmr_rerank(pool, scores[pool], self.content.text[pool], k, diversity)
        if z is not None:  # the features of the picks only: all that reasons read
            features = self._row_features(z, rows, weights.names)
        return Ranking(rows, scores, features, rated)

    def predicted_ratings(self, user: UserHistory, rows: np.ndarray) -> np.ndarray:
        """The served rating prediction (SVD stars); NaN where the model has no data on a movie."""
        stars = self._models["svd"].score_rows(user, rows)
        known = self._models["svd"].known_rows[rows] & ~self.is_cold[rows]
        return np.where(known, stars, np.nan)

    # ------------------------------------------------------------------ reasons
    def explain(
        self,
        user: UserHistory,
        rows: np.ndarray,
        use_content: bool = True,
        features: np.ndarray | None = None,
        rated_text: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Explanation]:
        """The signal group that adds most to each picked row's blend score, and its source.

        Collaborative reasons name the liked movie (`liked_sources`) with the largest EASE
        weight B[movie, pick] (its top liked contributor, every rated movie voting alike) when
        EASE adds more to the pick than SVD does and that movie is real evidence (`_strong`);
        otherwise there is no single movie to name ("taste"). Content reasons (embedding mode
        only) name the liked movie with the closest story (`rated_text`: the ranking's gather
        of the rated movies' text vectors, when it made one).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if features is None:
            features, weights = self.blend_features(user, use_content)
        else:
            weights = self.weights(use_content, len(user))
        feats = features[rows] * weights.weights
        groups = {
            "collaborative": [j for j, n in enumerate(weights.names) if n in COLLABORATIVE],
            "content": [j for j, n in enumerate(weights.names) if n in CONTENT],
            "trending": [j for j, n in enumerate(weights.names) if n == "trending"],
            "popular": [
                j for j, n in enumerate(weights.names) if n in ("popularity", "metadata_popularity")
            ],
        }
        totals = np.column_stack(
            [feats[:, cols].sum(axis=1) if cols else np.full(len(rows), -np.inf)
             for cols in groups.values()]
        )  # fmt: skip
        winner = np.argmax(totals, axis=1)
        kinds = list(groups)
        names = list(weights.names)
        ease_part, recent_part, svd_part = (
            feats[:, names.index(n)] if n in names else np.zeros(len(rows))
            for n in ("item_item", "item_recent", "svd")
        )
        ease_part = ease_part + recent_part
        # The named movie is the liked one with the largest EASE weight B[movie, pick]: how
        # strongly people who watched it also watched the pick. Not weighted by recency: the
        # latest-rated movie adds most to item_recent's vote even when unrelated to the pick,
        # and "Often watched by viewers of Thor" under "12 Angry Men" reads as false.
        top, strong = None, np.zeros(len(rows), dtype=bool)
        if len(user):
            every = self._models["item_item"].contributions(user, rows)
            ease = np.where(liked_sources(user.ratings)[:, None], every, 0.0)
            strong, top = self._strong(user, rows, every, ease)
        nearest = (
            self._content["content_text"].nearest_liked(user, rows, rated_text)
            if use_content and self.has_text
            else np.full(len(rows), -1)
        )
        out = []
        for k, row in enumerate(rows):
            kind = kinds[winner[k]]
            if self.is_cold[row]:
                out.append(Explanation("new", int(nearest[k]) if use_content else -1))
            elif kind == "content" and nearest[k] >= 0:
                out.append(Explanation("content", int(nearest[k])))
            elif (
                kind in ("collaborative", "content")
                and top is not None
                and strong[k]
                and (kind == "content" or ease_part[k] >= svd_part[k])
            ):
                out.append(Explanation("collaborative", int(top[k])))
            elif kind == "trending":
                out.append(Explanation("trending"))
            elif kind == "collaborative":
                out.append(Explanation("taste"))
            else:
                out.append(Explanation("popular"))
        return out

    def _strong(
        self, user: UserHistory, rows: np.ndarray, every: np.ndarray, liked: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whether each pick's top liked contributor X (the argmax of `liked`, B over the liked
        movies) is evidence a film lover would accept: the pick is among the movies most
        watched with X (X's row of B: the top REASON_TOP_NEIGHBOURS, or the top
        REASON_NEIGHBOURS when X also carries REASON_MIN_SHARE of the pick's positive EASE
        score from all the user's ratings, `every`). A heavy user's picks draw on hundreds of
        movies, and the largest of many small votes reads as false ("Batman v Superman,
        because you liked The Revenant"); so does a newcomer's one liked movie behind a
        blockbuster its fans watch no more than any other ("The Return of the King, because
        you liked Toy Story"). Also returns X for each pick (its index in the history)."""
        top = np.argmax(liked, axis=0)
        named = liked[top, np.arange(len(rows))]
        evidence = np.clip(every, 0.0, None).sum(axis=0)
        items = self._models["item_item"]
        source = items.positions(user.item_ids[top])
        among_top = items.among_strongest(source, named, REASON_TOP_NEIGHBOURS)
        among = items.among_strongest(source, named, REASON_NEIGHBOURS)
        shared = among & (named >= REASON_MIN_SHARE * evidence)
        strong = (named > 0) & (source >= 0) & (among_top | shared)
        return strong, top

    def _ease_scores(self, user: UserHistory) -> dict[str, np.ndarray]:
        """The EASE signals (plain and recency-weighted) from one gather of B's rows."""
        views = [self._models[name] for name in EASE_SIGNALS]
        return dict(zip(EASE_SIGNALS, views[0].score_views(user, views), strict=True))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> None:
        self.svd.save(directory)
        self.items.save(directory)
        self.popularity.save(directory)
        if self.aligned is not None:
            self.aligned.save(directory)
        blend = {
            "with_content": self.blend_with_content.to_json(),
            "without_content": self.blend_without_content.to_json(),
        }
        if self.cold_users is not None:
            blend["cold_users"] = self.cold_users.to_json()
        (directory / "blend.json").write_text(json.dumps(blend, indent=2))
        (directory / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str))

    @classmethod
    def load(cls, directory: Path) -> HybridRecommender:
        blend = json.loads((directory / "blend.json").read_text())
        cold_users = blend.get("cold_users")
        return cls(
            svd=SVDModel.load(directory),
            items=ItemItemModel.load(directory),
            popularity=PopularityModel.load(directory),
            blend_with_content=BlendWeights.from_json(blend["with_content"]),
            blend_without_content=BlendWeights.from_json(blend["without_content"]),
            meta=json.loads((directory / "meta.json").read_text()),
            cold_users=ColdUserBlends.from_json(cold_users) if cold_users else None,
            aligned=(
                AlignedContentModel.load(directory)
                if (directory / ALIGNED_FILE).is_file()
                else None
            ),
        )
