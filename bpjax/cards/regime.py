"""Regime: trending or ranging, calm or volatile."""
