"""Routes, one module per spec group. Each module exposes ``router``."""
