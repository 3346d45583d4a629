"""ORM tables of the metadata store. Schema changes go through an Alembic migration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class UserRow(Base):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    domain: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class CredentialRow(Base):
    __tablename__ = "credentials"
    ak: Mapped[str] = mapped_column(String(64), primary_key=True)
    sk_sealed: Mapped[str] = mapped_column(Text)  # Fernet-sealed; HMAC verification needs the SK
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    user_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(48))
    db_use_type: Mapped[str] = mapped_column(String(32))
    engine_type: Mapped[str] = mapped_column(String(64))
    job_direction: Mapped[str] = mapped_column(String(16))
    task_type: Mapped[str] = mapped_column(String(32))
    net_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(256), default="")
    enterprise_project_id: Mapped[str] = mapped_column(String(64), default="0")
    parent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    async_job_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)
    # Everything else the API accepts (endpoints with sealed passwords, policies, selection...).
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the engine reports (progress, lag, failure reason, paused_from...).
    runtime: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Optimistic-concurrency counter: a stale writer gets TaskBusy instead of a lost update.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_jobs_project_name", "project_id", "name"),)
    __mapper_args__ = {"version_id_col": version}


class JobEventRow(Base):
    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[int] = mapped_column(BigInteger)
    from_status: Mapped[str | None] = mapped_column(String(48), nullable=True)
    to_status: Mapped[str] = mapped_column(String(48))
    action: Mapped[str] = mapped_column(String(48))
    reason: Mapped[str] = mapped_column(Text, default="")


class AsyncJobRow(Base):
    __tablename__ = "async_jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    doc: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class HeartbeatRow(Base):
    __tablename__ = "heartbeats"
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(128))
    at: Mapped[int] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


# --- data comparison (issue 5) ----------------------------------------------------------------


class CompareJobRow(Base):
    """One comparison run of a task: objects, lines (row counts) or contents (values)."""

    __tablename__ = "compare_jobs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # objects | lines | contents
    status: Mapped[str] = mapped_column(String(32))  # the spec's compare_task_status words
    # What to compare: [{"db_name", "table_name": [...]}], None = the task's whole selection.
    objects: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    create_time: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[int] = mapped_column(BigInteger)  # when it may start (scheduled), epoch ms
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error_msg: Mapped[str] = mapped_column(Text, default="")
    tables_total: Mapped[int] = mapped_column(Integer, default=0)
    tables_done: Mapped[int] = mapped_column(Integer, default=0)
    export_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    export_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CompareTableRow(Base):
    """The result of one table in a lines/contents comparison, written as the table completes."""

    __tablename__ = "compare_tables"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    compare_id: Mapped[str] = mapped_column(ForeignKey("compare_jobs.id", ondelete="CASCADE"), index=True)
    source_db: Mapped[str] = mapped_column(String(256))
    source_table: Mapped[str] = mapped_column(String(256))
    target_db: Mapped[str] = mapped_column(String(256))
    target_table: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # waiting|consistent|inconsistent|failed|uncomparable|cancelled
    source_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    target_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    diff_count: Mapped[int] = mapped_column(BigInteger, default=0)
    missing: Mapped[int] = mapped_column(BigInteger, default=0)
    extra: Mapped[int] = mapped_column(BigInteger, default=0)
    changed: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ux_compare_tables_table", "compare_id", "source_db", "source_table", unique=True),)


class CompareDiffRow(Base):
    """One differing row of a contents comparison (at most the engine's cap per table)."""

    __tablename__ = "compare_diffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_id: Mapped[int] = mapped_column(ForeignKey("compare_tables.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # missing | extra | changed
    key_columns: Mapped[list[str]] = mapped_column(JSON)
    key: Mapped[list[str | None]] = mapped_column(JSON)
    source_row: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    target_row: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source_sql: Mapped[str] = mapped_column(Text, default="")
    target_sql: Mapped[str] = mapped_column(Text, default="")


class CompareObjectRow(Base):
    """One object of an object-level comparison (consistent ones too: they make the counts)."""

    __tablename__ = "compare_objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    compare_id: Mapped[str] = mapped_column(ForeignKey("compare_jobs.id", ondelete="CASCADE"), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    source_db: Mapped[str | None] = mapped_column(String(256), nullable=True)
    target_db: Mapped[str | None] = mapped_column(String(256), nullable=True)
    source_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    target_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # consistent | missing | extra | different
    message: Mapped[str] = mapped_column(Text, default="")
