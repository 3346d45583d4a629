"""MySQL/MariaDB engine (PyMySQL): connection check today; source/target roles plug in here."""
