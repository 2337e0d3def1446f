"""discord_sign_ins and role_connections: a linked X account as a Discord Linked Role

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discord_sign_ins",
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_discord_sign_ins")),
    )
    op.create_index(op.f("ix_discord_sign_ins_expires_at"), "discord_sign_ins", ["expires_at"])
    op.create_table(
        "role_connections",
        sa.Column("discord_user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("access_token_sealed", sa.Text(), nullable=False),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pushed_twitter_user_id", sa.String(32), nullable=True),
        sa.Column("pushed_screen_name", sa.String(64), nullable=True),
        sa.Column("pushed_linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("discord_user_id", name=op.f("pk_role_connections")),
    )


def downgrade() -> None:
    op.drop_table("role_connections")
    op.drop_index(op.f("ix_discord_sign_ins_expires_at"), table_name="discord_sign_ins")
    op.drop_table("discord_sign_ins")
