"""Positioning: long/short account and position ratios."""
