"""Data comparison (issue 5): objects, row counts and row contents of a task's source and target.

The public interface is ``opendrs.compare.api``; engines plug in through ``dialect.CompareDialect``.
"""
