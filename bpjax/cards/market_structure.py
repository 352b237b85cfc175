"""Market structure: swings, breaks and ranges."""
