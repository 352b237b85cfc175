"""Correlation and benchmark beta."""
