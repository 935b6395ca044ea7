"""impression_items: drop the index on impression_id alone; the unique (impression_id,
movie_id) index leads with that column, so it serves the same lookups and the cascade, and every
item written maintained one index more"""

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"


def upgrade() -> None:
    with op.batch_alter_table("impression_items", schema=None) as batch_op:
        batch_op.drop_index("ix_impression_items_impression_id")


def downgrade() -> None:
    with op.batch_alter_table("impression_items", schema=None) as batch_op:
        batch_op.create_index("ix_impression_items_impression_id", ["impression_id"])
