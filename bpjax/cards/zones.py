"""Zones: liquidity zones around price."""
