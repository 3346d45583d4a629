"""Database engines: one subpackage per engine (``mysql/``, ``postgres/``, ``redis/``).

Each engine translates its driver's behaviour into OpenDRS's small contracts
(``base.py``) so that nothing outside ``engines/`` imports a database driver.
``connect.check_endpoint`` is the single entry point for the spec's connection test.
"""
