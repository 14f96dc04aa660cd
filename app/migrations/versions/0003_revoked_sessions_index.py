"""auth sessions: index on revoked_at (every node reads newly revoked sessions each second)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 18:30:00
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_auth_sessions_revoked_at", "auth_sessions", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_sessions_revoked_at", table_name="auth_sessions")
