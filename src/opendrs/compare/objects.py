"""Object comparison: databases, tables, columns, indexes, constraints, views, routines, triggers,
events, sequences and users -- missing, extra or different on the target.

Why inventories: each dialect lists its objects as ``ObjectItem(type, db, table, name,
definition)`` where ``definition`` is a normalised summary (a column's type/nullability/
default, an index's uniqueness and columns, a view's or routine's body, ...). This module maps
source names to target names through the selection's renames, restricts both sides to what the
selection covers, and pairs the items: absent on the target = "missing", only on the target =
"extra", both with different summaries = "different". Consistent pairs are returned too, so the
caller can count objects per type (spec 4.1.34 overview).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opendrs.compare.catalog import dialect_for
from opendrs.compare.dialect import CompareDialect
from opendrs.compare.model import CompareScope, ObjectDiff
from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection

ORDER = ("DB", "TABLE", "COLUMN", "INDEX", "CONSTRAINT", "VIEW", "PROCEDURE", "FUNCTION", "TRIGGER", "EVENT",
         "SEQUENCE", "USER")
TABLE_LEVEL = frozenset({"COLUMN", "INDEX", "CONSTRAINT", "TRIGGER"})


@dataclass(frozen=True)
class ObjectItem:
    """One object on one side; ``table`` is set for table-level objects (and TABLE/VIEW themselves)."""

    object_type: str
    db: str | None
    table: str | None
    name: str
    definition: str = ""

    @property
    def label(self) -> str:
        own = f"{self.table}.{self.name}" if self.table is not None and self.object_type in TABLE_LEVEL else self.name
        return f"{own}: {self.definition}" if self.definition else own


def _covered(sel: Selection, db: str | None, table: str | None) -> bool:
    """Is a (source-named) object inside the selection?"""
    if db is None:
        return True
    if not sel.includes_database(db):
        return False
    return table is None or sel.includes(TableRef(db, table))


def _target_scope(sel: Selection, source_items: list[ObjectItem]) -> tuple[set[str] | None, dict[str, set[str] | None]]:
    """Target databases covered (None = all) and, per target db, its covered tables (None = all)."""
    if sel.everything:
        return None, {}
    dbs: dict[str, set[str] | None] = {}
    for db, tables in sel.databases.items():
        tdb = sel.target_database(db)
        dbs[tdb] = None if tables is None else {sel.target(TableRef(db, t)).name for t in tables}
    return set(dbs), dbs


def _rename_definition(d: CompareDialect, definition: str, sel: Selection, db: str | None) -> str:
    if db is None or sel.target_database(db) == db:
        return definition
    return definition.replace(d.quote(db), d.quote(sel.target_database(db)))


def compare_objects(scope: CompareScope, stop: Callable[[], bool] = lambda: False) -> list[ObjectDiff]:
    d = dialect_for(scope.engine_type)
    sel = scope.selection
    src = d.connect(scope.source, scope.source.db_name)
    try:
        src_items = [i for i in d.object_inventory(src, d.list_databases(src, sel)) if _covered(sel, i.db, i.table)]
    finally:
        src.close()
    if stop():
        return []
    tgt = d.connect(scope.target, d.target_database(scope.source, scope.target))
    try:
        target_dbs, target_tables = _target_scope(sel, src_items)
        every = d.list_databases(tgt, Selection())
        dbs = [db for db in every if target_dbs is None or db in target_dbs]
        tgt_items = []
        for i in d.object_inventory(tgt, dbs):
            if i.db is not None and target_dbs is not None:
                tables = target_tables.get(i.db)
                if i.table is not None and tables is not None and i.table not in tables:
                    continue
            tgt_items.append(i)
    finally:
        tgt.close()
    return pair_items(d, sel, src_items, tgt_items)


def pair_items(d: CompareDialect, sel: Selection, src_items: list[ObjectItem],
               tgt_items: list[ObjectItem]) -> list[ObjectDiff]:
    """Match source items (renamed to target names) with target items; one ObjectDiff per object."""
    targets = {(i.object_type, i.db, i.table, i.name): i for i in tgt_items}
    out: list[ObjectDiff] = []
    for s in src_items:
        tdb = sel.target_database(s.db) if s.db is not None else None
        ttable = sel.target(TableRef(s.db, s.table)).name if s.db is not None and s.table is not None else s.table
        tname = s.name
        if s.object_type in ("TABLE", "VIEW") and s.db is not None:
            tname = sel.target(TableRef(s.db, s.name)).name
        if s.object_type == "DB" and s.db is not None:
            tname = tdb or s.name
        t = targets.pop((s.object_type, tdb, ttable, tname), None)
        expected = ObjectItem(s.object_type, tdb, ttable, tname, _rename_definition(d, s.definition, sel, s.db))
        if t is None:
            out.append(ObjectDiff(s.object_type, s.db, tdb, s.label, None, "missing",
                                  f"{s.object_type} {expected.label.split(':')[0]} does not exist on the target"))
        elif t.definition != expected.definition:
            out.append(ObjectDiff(s.object_type, s.db, tdb, s.label, t.label, "different",
                                  "the definitions differ"))
        else:
            out.append(ObjectDiff(s.object_type, s.db, tdb, s.label, t.label, "consistent"))
    for t in targets.values():
        out.append(ObjectDiff(t.object_type, None, t.db, None, t.label, "extra",
                              f"{t.object_type} {t.label.split(':')[0]} exists only on the target"))
    rank = {name: i for i, name in enumerate(ORDER)}
    out.sort(key=lambda o: (rank.get(o.object_type, 99), o.target_db or o.source_db or "",
                            o.source_value or o.target_value or ""))
    return out
