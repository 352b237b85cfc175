"""Candles: the shape of bars."""
