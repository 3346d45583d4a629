"""How the generic runner builds PostgreSQL sources and targets for a task, and which errors it retries."""

from __future__ import annotations

from typing import Final

from opendrs.engines.contracts import SourceEngine
from opendrs.engines.postgres.connection import dbname_of, is_transient
from opendrs.engines.postgres.source import PostgresSource
from opendrs.engines.postgres.target import PostgresTarget, target_endpoint
from opendrs.jobs.connections import endpoint_config
from opendrs.jobs.context import Services
from opendrs.jobs.model import Job
from opendrs.pipeline.model import Position
from opendrs.pipeline.selection import Selection, row_filters

PREFIX: Final = "opendrs_"


def default_slot_name(job_id: str) -> str:
    """``opendrs_<job id without dashes>``: valid as a slot name (lower case, digits, _; at most 63)."""
    return (PREFIX + job_id.replace("-", "").lower())[:63]


def replication_names(job: Job) -> tuple[str, str]:
    """(slot, publication) of a task: the 4.3.2 ``slot_name`` when set; the publication is always ours."""
    policy = job.config.get("policy") or {}
    default = default_slot_name(job.id)
    return str(policy.get("slot_name") or default), default


class PostgresKit:
    def __init__(self, services: Services) -> None:
        self.svc = services

    def source(self, job: Job) -> PostgresSource:
        slot, publication = replication_names(job)
        ep = endpoint_config(self.svc, job.config["source_endpoint"])
        policy = job.config.get("policy") or {}
        return PostgresSource(ep, slot, publication, before_release=lambda: self._cutover_sequences(job),
                              ddl_capture=bool(policy.get("ddl_trans", True)))

    def _cutover_sequences(self, job: Job) -> None:
        """At cut-over the source's sequences have moved on since the load: copy their values once more."""
        selection = Selection.from_config(job.config)
        source = PostgresSource(endpoint_config(self.svc, job.config["source_endpoint"]), "", "")
        target = self.target(job)
        try:
            target.sync_sequences(source.discover(selection), selection)
        finally:
            target.close()

    def target(self, job: Job) -> PostgresTarget:
        source_ep = endpoint_config(self.svc, job.config["source_endpoint"])
        ep = target_endpoint(endpoint_config(self.svc, job.config["target_endpoint"]), dbname_of(source_ep))
        policy = job.config.get("policy") or {}
        fill = str(policy.get("is_fill_materialized_view", "")).lower() == "true"
        return PostgresTarget(ep, source_ep, fill_materialized_views=fill, filters=row_filters(job.config))

    def start_position(self, source: SourceEngine, job: Job) -> Position:
        """Publication of the selected tables, then the slot: its consistent point is where CDC starts."""
        if not isinstance(source, PostgresSource):
            raise TypeError(f"not a PostgreSQL source: {source!r}")
        catalog = source.discover(Selection.from_config(job.config))
        source.replication.ensure_publication([t.ref for t in catalog.tables])
        return source.replication.ensure_slot()

    def is_transient(self, exc: BaseException) -> bool:
        return is_transient(exc)
