"""experiments, impressions and feedback events"""

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'stopped')", name=op.f("ck_experiments_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("name", name=op.f("uq_experiments_name")),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_status"), ["status"], unique=False)

    op.create_table(
        "experiment_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "method IN ('hybrid', 'hybrid_no_embeddings', 'svd', 'content', 'popularity')",
            name=op.f("ck_experiment_variants_method_known"),
        ),
        sa.CheckConstraint("share > 0", name=op.f("ck_experiment_variants_share_positive")),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_variants_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_variants")),
        sa.UniqueConstraint("experiment_id", "name", name="uq_experiment_variants_experiment_name"),
    )
    with op.batch_alter_table("experiment_variants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiment_variants_experiment_id"), ["experiment_id"], unique=False
        )

    op.create_table(
        "impressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject_user_id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=True),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("index_version", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_impressions_experiment_id_experiments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_impressions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impressions")),
        sa.UniqueConstraint("request_id", name=op.f("uq_impressions_request_id")),
    )
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_impressions_experiment_id"), ["experiment_id"], unique=False
        )
        batch_op.create_index(
            "ix_impressions_user_id_created_at", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("impression_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('click', 'detail_view', 'dismiss', 'rating')",
            name=op.f("ck_feedback_events_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["impression_id"],
            ["impressions.id"],
            name=op.f("fk_feedback_events_impression_id_impressions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_feedback_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
        sa.UniqueConstraint("impression_id", "movie_id", "kind", name="uq_feedback_events_once"),
    )
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_events_impression_id"), ["impression_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_feedback_events_user_id"), ["user_id"], unique=False)

    op.create_table(
        "impression_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("impression_id", sa.Integer(), nullable=False),
        sa.Column("movie_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["impression_id"],
            ["impressions.id"],
            name=op.f("fk_impression_items_impression_id_impressions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_impression_items")),
        sa.UniqueConstraint(
            "impression_id", "movie_id", name="uq_impression_items_impression_movie"
        ),
    )
    with op.batch_alter_table("impression_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_impression_items_impression_id"), ["impression_id"], unique=False
        )
        batch_op.create_index(
            "ix_impression_items_movie_id_impression_id",
            ["movie_id", "impression_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("impression_items", schema=None) as batch_op:
        batch_op.drop_index("ix_impression_items_movie_id_impression_id")
        batch_op.drop_index(batch_op.f("ix_impression_items_impression_id"))

    op.drop_table("impression_items")
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_events_user_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_events_impression_id"))

    op.drop_table("feedback_events")
    with op.batch_alter_table("impressions", schema=None) as batch_op:
        batch_op.drop_index("ix_impressions_user_id_created_at")
        batch_op.drop_index(batch_op.f("ix_impressions_experiment_id"))

    op.drop_table("impressions")
    with op.batch_alter_table("experiment_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_variants_experiment_id"))

    op.drop_table("experiment_variants")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_status"))

    op.drop_table("experiments")
