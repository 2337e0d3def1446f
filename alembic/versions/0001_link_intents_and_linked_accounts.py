"""link intents and linked accounts

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "link_intents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("discord_user_id", sa.BigInteger(), nullable=False),
        sa.Column("discord_name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("request_token", sa.String(255), nullable=True),
        sa.Column("request_token_secret_sealed", sa.Text(), nullable=True),
        sa.Column("verifier_hash", sa.String(64), nullable=True),
        sa.Column("twitter_user_id", sa.String(32), nullable=True),
        sa.Column("screen_name", sa.String(64), nullable=True),
        sa.Column("access_level", sa.String(32), nullable=True),
        sa.Column("access_token_sealed", sa.Text(), nullable=True),
        sa.Column("access_token_secret_sealed", sa.Text(), nullable=True),
        sa.Column("code_sealed", sa.Text(), nullable=True),
        sa.Column("code_expires_at", UTC_DATETIME, nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_intents")),
        sa.UniqueConstraint("discord_user_id", name=op.f("uq_link_intents_discord_user_id")),
        sa.UniqueConstraint("request_token", name=op.f("uq_link_intents_request_token")),
    )
    op.create_index(op.f("ix_link_intents_expires_at"), "link_intents", ["expires_at"])
    op.create_table(
        "linked_accounts",
        sa.Column("discord_user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("twitter_user_id", sa.String(32), nullable=False),
        sa.Column("screen_name", sa.String(64), nullable=False),
        sa.Column("access_token_sealed", sa.Text(), nullable=False),
        sa.Column("access_token_secret_sealed", sa.Text(), nullable=False),
        sa.Column("access_level", sa.String(32), nullable=False),
        sa.Column("linked_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("discord_user_id", name=op.f("pk_linked_accounts")),
        sa.UniqueConstraint("twitter_user_id", name=op.f("uq_linked_accounts_twitter_user_id")),
    )


def downgrade() -> None:
    op.drop_table("linked_accounts")
    op.drop_index(op.f("ix_link_intents_expires_at"), table_name="link_intents")
    op.drop_table("link_intents")
