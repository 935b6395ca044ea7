"""End to end on generated data: an admin starts a 50/50 experiment between the hybrid and the
popularity baseline, the replay simulator sends traffic through the HTTP API with clicks and
ratings taken from held-out ratings, and the report finds the hybrid better, significantly;
with two identical variants it finds no difference."""

from __future__ import annotations

import shutil
from functools import partial

import pytest
from fastapi.testclient import TestClient

from backend.config import get_settings
from backend.database import SessionLocal
from backend.services.users import set_admin
from scripts import replay_experiment
from tests.helpers import clear_all, register_and_login, write_catalogue


@pytest.fixture(scope="module")
def replay_setup(tmp_path_factory):
    """A generated catalogue split into training and held-out ratings; the service is trained
    on the training part only."""
    from backend.main import create_app
    from backend.services.importer import import_movielens
    from backend.services.recommender_runtime import RecommenderRuntime, reset_runtime

    source = write_catalogue(tmp_path_factory.mktemp("source"), n_movies=120, n_users=240, seed=7)
    train = tmp_path_factory.mktemp("train")
    split = replay_experiment.split_ratings(source, train, holdout_fraction=0.3, seed=1)
    assert split["holdout"] > 0.2 * (split["train"] + split["holdout"])
    shutil.copyfile(source / "metadata.csv", train / "metadata.csv")
    clear_all()
    with SessionLocal() as db:
        import_movielens(db, train, metadata=train / "metadata.csv")
    runtime = RecommenderRuntime(get_settings())
    with SessionLocal() as db:
        runtime.build_index(db)
        runtime.train(db)
    reset_runtime(runtime)
    with SessionLocal() as db:
        set_admin(db, "replay-admin", "replay-admin@example.com", "replay-password-1")
    with TestClient(create_app(get_settings(), runtime=runtime)) as client:
        admin = register_and_login(client, "replay-admin", "replay-password-1")
        yield client, admin, replay_experiment.read_holdout(train / "holdout.csv")
    reset_runtime(None)
    clear_all()


def _run(client, admin, holdout, name: str, variants: list[tuple[str, str]], seed: int) -> dict:
    experiment = replay_experiment.ensure_experiment(client, admin, name, variants)
    assert experiment["status"] == "running"
    users = replay_experiment.simulated_users(SessionLocal, get_settings().secret_key, holdout)
    assert len(users) == 240
    stats = replay_experiment.replay(client, users, sessions=3, seed=seed)
    assert stats.sent["lists"] == 3 * len(users) and not stats.errors, stats.errors
    assert stats.sent["clicks"] > 0 and stats.sent["ratings"] == stats.sent["clicks"]
    report = client.get(f"/admin/experiments/{name}/report", headers=admin)
    assert report.status_code == 200, report.text
    stopped = client.post(f"/admin/experiments/{name}/stop", headers=admin)
    assert stopped.status_code == 200
    print(replay_experiment.summarise(report.json()))
    return report.json()


def test_hybrid_beats_popularity_and_identical_variants_do_not_differ(replay_setup):
    run = partial(_run, *replay_setup)
    report = run("hybrid-vs-baseline", [("hybrid", "hybrid"), ("baseline", "popularity")], seed=0)
    variants = {v["name"]: v for v in report["variants"]}
    assert set(variants) == {"hybrid", "baseline"}
    for variant in variants.values():
        assert variant["users"] > 80 and variant["impressions"] == 3 * variant["users"]
        for metric in ("ctr", "conversion", "coverage", "novelty", "impressions_per_user"):
            estimate = variant["metrics"][metric]
            assert estimate["low"] <= estimate["value"] <= estimate["high"], (metric, estimate)
    assert report["sample_ratio_p_value"] > 0.001
    assert (
        variants["hybrid"]["metrics"]["ctr"]["value"]
        > variants["baseline"]["metrics"]["ctr"]["value"]
    )
    (comparison,) = report["comparisons"]
    assert comparison["variant"] == "baseline" and comparison["control"] == "hybrid"
    ctr = comparison["metrics"]["ctr"]
    assert ctr["difference"] < 0 and ctr["high"] < 0 and ctr["significant"]
    assert report["winners"]["ctr"] == "hybrid"
    # The popularity list is the same for everyone: it covers less of the catalogue.
    assert comparison["metrics"]["coverage"]["difference"] < 0

    same = run("hybrid-a-a", [("a", "hybrid"), ("b", "hybrid")], seed=1)
    (comparison,) = same["comparisons"]
    assert comparison["metrics"]["ctr"]["p_value"] > 0.05
    assert comparison["metrics"]["conversion"]["p_value"] > 0.05
    assert same["winners"] == {"ctr": None, "conversion": None}
