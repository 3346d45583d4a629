"""Full-load key ranges of the PostgreSQL source on a real server: they cover every row exactly once."""

from __future__ import annotations

import uuid

from harness import PostgresServer
from opendrs.engines.base import EndpointConfig
from opendrs.engines.postgres.source import PostgresSource
from opendrs.pipeline.model import Column, TableRef, TableSchema


def test_ranges_of_an_integer_key_do_not_overlap_and_cover_every_row(postgres_server: PostgresServer) -> None:
    # Keys of different text widths: ordered as text, '100000' < '99999', and ranges would overlap.
    schema = f"chunks_{uuid.uuid4().hex[:8]}"
    postgres_server.execute(f"CREATE SCHEMA {schema}")
    postgres_server.execute(f"CREATE TABLE {schema}.t (id bigint PRIMARY KEY, v text)")
    postgres_server.execute(f"INSERT INTO {schema}.t SELECT g, 'v' || g FROM generate_series(1, 120000) g")
    postgres_server.execute(f"ANALYZE {schema}.t")
    table = TableSchema(TableRef(schema, "t"), [Column("id", "bigint", "bigint", nullable=False),
                                                Column("v", "text", "text")], key=("id",), rows_estimate=120000)
    ep = EndpointConfig("postgresql", postgres_server.host, postgres_server.port, postgres_server.user,
                        postgres_server.password, db_name="postgres")
    source = PostgresSource(ep, "unused_slot", "unused_pub")
    try:
        ranges = list(source.chunks(table, 20000))
        assert len(ranges) > 2
        seen: list[int] = []
        for rng in ranges:
            for batch in source.read_chunk(table, rng, 50000):
                seen.extend(int(row[0]) for row in batch)
        assert len(seen) == 120000 and len(set(seen)) == 120000
        sizes = [sum(len(b) for b in source.read_chunk(table, rng, 50000)) for rng in ranges]
        assert max(sizes) < 60000, sizes  # roughly even: sampled rows, not whole pages
    finally:
        source.close()
        postgres_server.execute(f"DROP SCHEMA {schema} CASCADE")
