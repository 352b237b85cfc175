"""Composite alpha: cross-category interactions and squeezes."""
