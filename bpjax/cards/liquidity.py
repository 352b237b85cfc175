"""Liquidity: spreads, depth and the cost of trading."""
