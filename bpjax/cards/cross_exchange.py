"""Cross-exchange: what the other venues say."""
