"""VWAP: volume-weighted average prices as fair value."""
