"""Basis and derivatives: perpetual against index."""
