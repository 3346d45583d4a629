"""PostgreSQL engine (psycopg 3): connection check today; source/target roles plug in here."""
