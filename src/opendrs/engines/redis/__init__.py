"""Redis engine (redis-py): connection check today; source/target roles plug in here."""
