"""The impression of a served list reads its movie ids and fallback flag from the JSON body
without parsing it; the same as a full parse, whatever the titles hold."""

from __future__ import annotations

import json

from backend.api.presenters import served_recommendations_json
from backend.models import Movie
from backend.services.impressions import _FALLBACK, served_movie_ids
from backend.services.recommendations import Recommendation


def _body(fallback: bool) -> bytes:
    titles = ['{"id":99,"title":"x"}', 'Quote " and {"id":7}', "Plain", '\\{"id":5,']
    recs = [
        Recommendation(
            Movie(
                id=10 + k,
                title=title,
                overview='{"id":1,',
                genres="Drama",
                vote_average=7.0,
                vote_count=3,
                popularity=1.0,
            ),
            1.0 - k / 10,
            f"Often watched by viewers of {title} (you rated it 5 stars)",
            "hybrid",
            fallback,
        )
        for k, title in enumerate(titles)
    ]
    return served_recommendations_json(recs)


def test_ids_and_fallback_match_a_full_parse():
    for fallback in (False, True):
        body = _body(fallback)
        items = json.loads(body)
        assert served_movie_ids(body) == tuple(item["id"] for item in items) == (10, 11, 12, 13)
        assert (_FALLBACK in body) == any(item["fallback"] for item in items) == fallback
    assert served_movie_ids(b"[]") == ()
