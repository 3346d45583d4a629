"""Which objects a task moves and what they are called on the target (4.1.5 selection + renames).

Built once from the task's stored configuration and shared by every phase, so structure,
full load, CDC and comparison agree on the same set and the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opendrs.pipeline.model import TableRef

SEPARATOR = "-*-*-"


@dataclass
class Selection:
    """``everything`` = no 4.1.5 selection (all user databases). Otherwise the listed ones."""

    everything: bool = True
    # database -> None (whole database) or the set of selected table names
    databases: dict[str, set[str] | None] = field(default_factory=dict)
    database_alias: dict[str, str] = field(default_factory=dict)
    table_alias: dict[TableRef, str] = field(default_factory=dict)

    def includes_database(self, db: str) -> bool:
        return self.everything or db in self.databases

    def includes(self, ref: TableRef) -> bool:
        if self.everything:
            return True
        if ref.schema not in self.databases:
            return False
        tables = self.databases[ref.schema]
        return tables is None or ref.name in tables

    def target_database(self, db: str) -> str:
        return self.database_alias.get(db, db)

    def target(self, ref: TableRef) -> TableRef:
        return TableRef(self.target_database(ref.schema), self.table_alias.get(ref, ref.name))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Selection:
        """From ``job.config["object_selection"]`` (the 4.1.5 request as stored)."""
        stored = config.get("object_selection") or {}
        items = stored.get("job") or []
        if not stored.get("selected") or not items:
            return cls(everything=True)
        sel = cls(everything=False)
        for item in items:
            kind = item.get("object_type")
            choice = str(item.get("select", "false")).lower()
            if choice == "false":
                continue
            if kind in ("database", "schema"):
                # ids are "<db>" for MySQL and "<db>-*-*-<schema>" for PostgreSQL: the last part names it.
                name = item.get("object_name") or (str(item["id"]).split(SEPARATOR)[-1] if item.get("id") else None)
                if name is None:
                    continue
                if choice == "true":
                    sel.databases[name] = None
                else:  # partial: tables listed separately
                    sel.databases.setdefault(name, set())
                if item.get("object_alias_name"):
                    sel.database_alias[name] = item["object_alias_name"]
            elif kind in ("table", "view"):
                parts = str(item.get("id", "")).split(SEPARATOR)
                parent = str(item.get("parent_id") or "")
                db = parent.split(SEPARATOR)[-1] if parent else (parts[-2] if len(parts) > 1 else parts[0])
                name = item.get("object_name") or str(item.get("id", "")).split(SEPARATOR)[-1]
                tables = sel.databases.get(db, set())
                if tables is not None:
                    tables.add(name)
                    sel.databases[db] = tables
                if item.get("object_alias_name"):
                    sel.table_alias[TableRef(db, name)] = item["object_alias_name"]
        return sel


def row_filters(config: dict[str, Any]) -> dict[TableRef, str]:
    """4.3.1 row filters by source table: the SQL condition a row must satisfy to be moved.

    Both rule kinds filter rows (``contentConditionalFilter``: ``transformation_info.value``;
    ``configConditionalFilter``: ``config_transformation.values``); the conditions were
    validated as safe SQL when stored.
    """
    out: dict[TableRef, str] = {}
    rules = (config.get("data_transformation") or {}).get("filter_conditions") or []
    for rule in rules:
        info = rule.get("transformation_info") or {}
        kind = info.get("transformation_type")
        if kind == "contentConditionalFilter":
            condition = str(info.get("value") or "")
        elif kind == "configConditionalFilter":
            condition = str((rule.get("config_transformation") or {}).get("values") or "")
        else:
            continue
        if not condition.strip():
            continue
        for obj in rule.get("data_transformation_object_infos") or []:
            # TableRef.schema is the MySQL database or the PostgreSQL schema.
            ref = TableRef(str(obj.get("schema_name") or obj.get("db_name") or ""), str(obj.get("table_name", "")))
            out[ref] = f"({out[ref]}) AND ({condition})" if ref in out else condition
    return out
