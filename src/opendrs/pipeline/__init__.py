"""Engine-agnostic data movement: snapshot, stream (capture -> bounded queue -> apply), checkpoints."""
