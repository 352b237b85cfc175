"""Trend: direction and quality of the prevailing move."""
