"""Order flow and cumulative volume delta: who is aggressive."""
