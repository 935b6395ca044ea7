"""ratings: the per-user index covers a user's history read (user_id, timestamp, id, movie_id,
rating), so a cache miss reads the index alone, in the order rated, with no table lookups"""

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"

COLUMNS = ["user_id", "timestamp", "id", "movie_id", "rating"]


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_user_id_timestamp")
        batch_op.create_index("ix_ratings_user_history", COLUMNS)


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_user_history")
        batch_op.create_index("ix_ratings_user_id_timestamp", ["user_id", "timestamp"])
