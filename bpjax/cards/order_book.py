"""Order book: resting liquidity and its imbalance."""
