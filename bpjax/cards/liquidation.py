"""Liquidations: where leveraged positions are forced out."""
