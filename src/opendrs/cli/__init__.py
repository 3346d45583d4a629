"""Command line: ``opendrs serve`` and thin clients of the REST API."""
