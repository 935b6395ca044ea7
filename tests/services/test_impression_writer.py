"""The impression writer keeps every served list, in order, in batches (SQLite or, with
TEST_DATABASE_URL, PostgreSQL: the items go to each driver's executemany as tuples)."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from backend.database import SessionLocal
from backend.models import Impression, ImpressionItem
from backend.models.base import Base
from backend.services.impressions import ImpressionRecord, ImpressionRecorder, new_request_id
from backend.services.users import create_user


def test_every_list_is_written_with_its_positions(committed_db):
    viewer = create_user(committed_db, "viewer", None, "viewer-password-1")
    recorder = ImpressionRecorder(SessionLocal, batch_size=3)
    lists = [tuple(range(100 + k, 100 + k + k % 4)) for k in range(7)]  # 0 to 3 movies
    records = [
        ImpressionRecord(new_request_id(), viewer.id, viewer.id, "hybrid", movie_ids)
        for movie_ids in lists
    ]
    for record in records:
        recorder.record(record)
    assert recorder.flush() == 7

    ids = dict(committed_db.execute(select(Impression.request_id, Impression.id)).all())
    rows = committed_db.execute(
        select(ImpressionItem.impression_id, ImpressionItem.movie_id, ImpressionItem.position)
    ).all()
    written = {impression_id: [] for impression_id in ids.values()}
    for impression_id, movie_id, position in sorted(rows):
        written[impression_id].append((position, movie_id))
    for record in records:
        stored = sorted(written[ids[record.request_id]])
        assert stored == list(enumerate(record.movie_ids, start=1)), record


def test_a_driver_with_another_paramstyle_gets_its_items_written(tmp_path):
    """Named parameters (as some drivers take) have no positional placeholder: the items go
    through SQLAlchemy's executemany instead of failing the batch."""
    engine = create_engine(f"sqlite:///{tmp_path / 'named.db'}", paramstyle="named")
    Base.metadata.create_all(engine, tables=[Impression.__table__, ImpressionItem.__table__])
    recorder = ImpressionRecorder(sessionmaker(engine))
    record = ImpressionRecord(new_request_id(), 1, 1, "hybrid", (30, 10, 20))
    recorder.record(record)
    try:
        assert recorder.flush() == 1
        with engine.connect() as connection:
            rows = connection.execute(
                select(ImpressionItem.position, ImpressionItem.movie_id).order_by("position")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [(1, 30), (2, 10), (3, 20)]
