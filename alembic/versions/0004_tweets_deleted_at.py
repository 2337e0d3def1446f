"""tweets.deleted_at: a tweet its author took back with Delete from X

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tweets") as tweets:
        tweets.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tweets_tweet_id", "tweets", ["tweet_id"])


def downgrade() -> None:
    op.drop_index("ix_tweets_tweet_id", table_name="tweets")
    with op.batch_alter_table("tweets") as tweets:
        tweets.drop_column("deleted_at")
