"""tweets, drafts and guild policies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tweets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("discord_user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("twitter_user_id", sa.String(32), nullable=False),
        sa.Column("screen_name", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tweet_id", sa.String(32), nullable=True),
        sa.Column("has_url", sa.Boolean(), nullable=False),
        sa.Column("has_media", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("posted_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tweets")),
    )
    op.create_index("ix_tweets_member_created", "tweets", ["discord_user_id", "created_at"])
    op.create_index("ix_tweets_guild_created", "tweets", ["guild_id", "created_at"])
    op.create_table(
        "tweet_drafts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("discord_user_id", sa.BigInteger(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image", sa.LargeBinary(), nullable=True),
        sa.Column("image_type", sa.String(32), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tweet_drafts")),
    )
    op.create_index(op.f("ix_tweet_drafts_expires_at"), "tweet_drafts", ["expires_at"])
    op.create_table(
        "guild_policies",
        sa.Column("guild_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tweeting_enabled", sa.Boolean(), nullable=False),
        sa.Column("required_role_id", sa.BigInteger(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("member_daily_cap", sa.Integer(), nullable=True),
        sa.Column("announce_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_guild_policies")),
    )


def downgrade() -> None:
    op.drop_table("guild_policies")
    op.drop_index(op.f("ix_tweet_drafts_expires_at"), table_name="tweet_drafts")
    op.drop_table("tweet_drafts")
    op.drop_index("ix_tweets_guild_created", table_name="tweets")
    op.drop_index("ix_tweets_member_created", table_name="tweets")
    op.drop_table("tweets")
