"""ratings: one (user_id, timestamp) index instead of the user_id one"""

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_user_id")
        batch_op.create_index("ix_ratings_user_id_timestamp", ["user_id", "timestamp"])


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_user_id_timestamp")
        batch_op.create_index("ix_ratings_user_id", ["user_id"])
