"""Relative strength: cross-sectional ranking."""
