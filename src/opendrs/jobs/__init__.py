"""Use cases: task lifecycle, validation and the state machine (service layer)."""
