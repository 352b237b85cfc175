"""Funding clock and session: time-of-day and funding-time effects."""
