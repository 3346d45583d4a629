"""ORM tables of the metadata store. Schema changes go through an Alembic migration."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
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
