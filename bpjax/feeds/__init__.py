"""Venue adapters (Binance, Bybit, OKX): raw frames to normalized events, with book sync and health."""
