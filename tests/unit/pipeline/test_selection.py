"""4.1.5 selections become the set of tables a task moves and their target names."""

from __future__ import annotations

from opendrs.pipeline.model import TableRef
from opendrs.pipeline.selection import Selection


def test_no_selection_means_everything() -> None:
    sel = Selection.from_config({})
    assert sel.everything and sel.includes(TableRef("any", "t"))
    assert sel.target(TableRef("a", "b")) == TableRef("a", "b")


def test_databases_tables_and_renames() -> None:
    sel = Selection.from_config({"object_selection": {"selected": True, "job": [
        {"id": "shop", "object_type": "database", "object_name": "shop", "select": "true",
         "object_alias_name": "shop_copy"},
        {"id": "crm", "object_type": "database", "object_name": "crm", "select": "partial"},
        {"id": "crm-*-*-users", "parent_id": "crm", "object_type": "table", "object_name": "users",
         "select": "true", "object_alias_name": "people"},
        {"id": "crm-*-*-logs", "parent_id": "crm", "object_type": "table", "object_name": "logs", "select": "false"},
        {"id": "hr", "object_type": "database", "object_name": "hr", "select": "false"},
    ]}})
    assert not sel.everything
    assert sel.includes(TableRef("shop", "orders"))
    assert sel.includes(TableRef("crm", "users")) and not sel.includes(TableRef("crm", "logs"))
    assert not sel.includes(TableRef("hr", "staff")) and not sel.includes_database("hr")
    assert sel.target(TableRef("shop", "orders")) == TableRef("shop_copy", "orders")
    assert sel.target(TableRef("crm", "users")) == TableRef("crm", "people")
