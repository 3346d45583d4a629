"""Metadata store: SQLAlchemy tables, Alembic migrations and repositories.

SQLite under the data dir by default; PostgreSQL (``postgresql://...``) for several nodes.
Nothing outside this package touches ORM rows.
"""
