"""Pydantic wire models: the spec's field names, exactly, validated once at the edge."""
