"""HTTP layer: routes per spec group, authentication, wire models and one error handler.

Nothing here talks to a database driver; routes call the service layer (``opendrs.jobs``).
"""
