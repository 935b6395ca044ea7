"""Impressions on every recommendations response, feedback events, rating attribution and
experiment assignment through the HTTP API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from backend.database import SessionLocal
from backend.experiments.assignment import assign
from backend.models import FeedbackEvent, Impression
from backend.services.impressions import ImpressionRecord, ImpressionRecorder, flush_pending
from tests.helpers import register_and_login

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _recommend(client, headers, **params):
    response = client.get("/movies/recommendations", params={"limit": 5, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response


def _impression(request_id: str) -> Impression:
    flush_pending()
    with SessionLocal() as db:
        impression = db.scalar(select(Impression).where(Impression.request_id == request_id))
        assert impression is not None
        _ = impression.items
        return impression


def _metric(client, line_start: str) -> float:
    text = client.get("/metrics").text
    values = [
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)
    ]
    return sum(values)


def test_every_list_is_an_impression_with_request_id(client):
    headers = register_and_login(client, "imp-user", "imp-password-1")
    response = _recommend(client, headers)
    request_id = response.headers["X-Request-ID"]
    items = response.json()
    assert isinstance(items, list) and items
    assert UUID.match(request_id)
    assert {item["request_id"] for item in items} == {request_id}
    assert {"id", "title", "vote_average"} <= set(items[0])
    impression = _impression(request_id)
    assert [i.movie_id for i in impression.items] == [item["id"] for item in items]
    assert [i.position for i in impression.items] == list(range(1, len(items) + 1))
    assert impression.experiment_id is None and impression.method == "hybrid"
    assert impression.forced is False
    assert (
        impression.model_version
        and impression.model_version == client.app.state.serving.runtime.bundle.version
    )
    forced = _recommend(client, headers, use_embeddings="false")
    assert _impression(forced.headers["X-Request-ID"]).forced is True
    assert _impression(forced.headers["X-Request-ID"]).method == "hybrid_no_embeddings"


def test_events_are_validated_and_counted(client):
    alice = register_and_login(client, "ev-alice", "ev-password-1")
    bob = register_and_login(client, "ev-bob", "ev-password-1")
    response = _recommend(client, alice)
    request_id, movie = response.headers["X-Request-ID"], response.json()[1]["id"]
    rejected_before = _metric(client, "feedback_events_rejected_total{")

    def send(headers, **body):
        payload = {"request_id": request_id, "movie_id": movie, "kind": "click", **body}
        return client.post("/events", json=payload, headers=headers)

    ok = send(alice)
    assert ok.status_code == 201, ok.text
    assert ok.json()["position"] == 2 and ok.json()["kind"] == "click"
    assert send(alice, kind="detail_view").status_code == 201
    duplicate = send(alice)
    assert duplicate.status_code == 409 and "already recorded" in duplicate.json()["detail"]
    assert send(bob).status_code == 403
    unknown = send(alice, request_id="00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404 and "Unknown request id" in unknown.json()["detail"]
    assert send(alice, movie_id=999_999).status_code == 422
    assert send(alice, kind="purchase").status_code == 422
    assert send(alice, request_id="not-a-uuid").status_code == 422
    assert (
        client.post(
            "/events", json={"request_id": request_id, "movie_id": movie, "kind": "click"}
        ).status_code
        == 401
    )
    assert _metric(client, "feedback_events_rejected_total{") - rejected_before == 4
    with SessionLocal() as db:
        kinds = db.scalars(select(FeedbackEvent.kind).where(FeedbackEvent.movie_id == movie)).all()
    assert sorted(kinds) == ["click", "detail_view"]


def test_rating_of_a_shown_movie_is_attributed(client):
    headers = register_and_login(client, "rate-user", "rate-password-1")
    response = _recommend(client, headers)
    request_id, shown = response.headers["X-Request-ID"], response.json()[0]["id"]
    conversions_before = _metric(client, "recommendation_conversions_total{")
    assert (
        client.put(f"/movies/{shown}/rating", json={"rating": 4.5}, headers=headers).status_code
        == 200
    )
    # Re-rating keeps the first attribution; a movie never shown is not attributed.
    assert (
        client.put(f"/movies/{shown}/rating", json={"rating": 2.0}, headers=headers).status_code
        == 200
    )
    shown_ids = {item["id"] for item in response.json()}
    other = next(m for m in range(1, 61) if m not in shown_ids)
    assert (
        client.put(f"/movies/{other}/rating", json={"rating": 5.0}, headers=headers).status_code
        == 200
    )
    with SessionLocal() as db:
        events = db.execute(
            select(FeedbackEvent.movie_id, FeedbackEvent.rating, FeedbackEvent.position)
            .join(Impression)
            .where(Impression.request_id == request_id, FeedbackEvent.kind == "rating")
        ).all()
    assert events == [(shown, 4.5, 1)]
    assert _metric(client, "recommendation_conversions_total{") - conversions_before == 1


def test_experiment_lifecycle_and_sticky_assignment(client, admin_headers, experiments_cleanup):
    user = register_and_login(client, "exp-user", "exp-password-1")
    body = {
        "name": "hybrid-vs-popularity",
        "description": "does the hybrid beat the popularity prior?",
        "variants": [
            {"name": "hybrid", "share": 1, "method": "hybrid"},
            {"name": "baseline", "share": 1, "method": "popularity"},
        ],
    }
    assert client.post("/admin/experiments", json=body, headers=user).status_code == 403
    created = client.post("/admin/experiments", json=body, headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "draft"
    assert client.post("/admin/experiments", json=body, headers=admin_headers).status_code == 409
    bad = {**body, "name": "other", "variants": [body["variants"][0], body["variants"][0]]}
    assert client.post("/admin/experiments", json=bad, headers=admin_headers).status_code == 422
    bad_method = {
        **body,
        "name": "other",
        "variants": [{"name": "x", "share": 1, "method": "magic"}] * 2,
    }
    assert (
        client.post("/admin/experiments", json=bad_method, headers=admin_headers).status_code == 422
    )
    assert client.post("/admin/experiments/nope/start", headers=admin_headers).status_code == 404
    started = client.post("/admin/experiments/hybrid-vs-popularity/start", headers=admin_headers)
    assert started.status_code == 200 and started.json()["status"] == "running"
    second = {**body, "name": "second"}
    assert client.post("/admin/experiments", json=second, headers=admin_headers).status_code == 201
    assert client.post("/admin/experiments/second/start", headers=admin_headers).status_code == 409

    me = client.get("/auth/me", headers=user).json()["id"]
    expected = body["variants"][assign("hybrid-vs-popularity", me, [1, 1])]
    lists = [_recommend(client, user) for _ in range(3)]
    impressions = [_impression(r.headers["X-Request-ID"]) for r in lists]
    assert {i.variant for i in impressions} == {expected["name"]}
    assert {i.method for i in impressions} == {expected["method"]}
    assert {r.json()[0]["method"] for r in lists} == {expected["method"]}
    forced = _impression(_recommend(client, user, use_embeddings="true").headers["X-Request-ID"])
    assert (forced.variant, forced.method, forced.forced) == (expected["name"], "hybrid", True)
    # An admin looking at somebody else's list is not part of the experiment.
    other = _recommend(client, admin_headers, user_id=me)
    assert _impression(other.headers["X-Request-ID"]).experiment_id is None

    report = client.get("/admin/experiments/hybrid-vs-popularity/report", headers=admin_headers)
    assert report.status_code == 200, report.text
    by_name = {v["name"]: v for v in report.json()["variants"]}
    assert by_name[expected["name"]]["impressions"] == 3
    assert by_name[expected["name"]]["forced_impressions"] == 1
    stopped = client.post("/admin/experiments/hybrid-vs-popularity/stop", headers=admin_headers)
    assert stopped.json()["status"] == "stopped"
    assert (
        client.post(
            "/admin/experiments/hybrid-vs-popularity/start", headers=admin_headers
        ).status_code
        == 409
    )
    after = _impression(_recommend(client, user).headers["X-Request-ID"])
    assert after.experiment_id is None and after.method == "hybrid"
    assert client.get("/admin/experiments/missing/report", headers=admin_headers).status_code == 404
    assert (
        client.get("/admin/experiments/BAD NAME/report", headers=admin_headers).status_code == 422
    )


def test_recorder_writes_everything_queued_on_close(loaded):
    with SessionLocal() as db:
        from backend.models import User

        user = User(username="rec-user", email="rec@example.com", can_login=True)
        db.add(user)
        db.commit()
        user_id = user.id
    recorder = ImpressionRecorder(SessionLocal, flush_seconds=60, batch_size=7)
    recorder.start()
    ids = [f"00000000-0000-4000-8000-{k:012d}" for k in range(50)]
    for request_id in ids:
        recorder.record(ImpressionRecord(request_id, user_id, user_id, "hybrid", (1, 2, 3)))
    recorder.close()
    with SessionLocal() as db:
        count = db.scalar(select(func.count()).where(Impression.request_id.in_(ids)))
    assert count == 50


@pytest.mark.parametrize("shares", [[1, 1], [9, 1], [1, 2, 1]])
def test_assignment_matches_shares(shares):
    picks = [assign("split-check", user, shares) for user in range(20000)]
    observed = [picks.count(k) / len(picks) for k in range(len(shares))]
    expected = [s / sum(shares) for s in shares]
    assert all(abs(o - e) < 0.015 for o, e in zip(observed, expected, strict=True))
