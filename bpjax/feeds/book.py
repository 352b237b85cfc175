"""A local L2 order book per (venue, symbol), and the sequence rules each venue puts on it.

Levels are absolute: a quantity replaces the level, zero deletes it, deleting a level
the book does not hold is normal. Prices are keys as float64: venues send them as
decimal strings of at most ~12 significant digits, which float64 round-trips
exactly, so equal prices give equal keys and every key prints back as sent
(parsing as ``Decimal`` costs several times more per level for no difference here).

The sequence rules decide whether a diff continues the book; a diff that does not
marks the book broken (``synced`` False), counted as a gap, and the adapter
resynchronizes it (a REST snapshot on Binance and OKX, a resubscription on Bybit).
"""

from __future__ import annotations

import numpy as np


class OrderBook:
    """Bids and asks as ``price -> qty`` maps with a cached sorted view for the top levels."""

    __slots__ = ("bids", "asks", "sequence", "synced", "chained", "ts", "received", "_sorted")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.sequence = -1  # the venue's id of the last applied update
        self.synced = False
        self.chained = False  # a diff has been applied since the snapshot
        self.ts = 0.0  # exchange time of the last applied update, s
        self.received = float("-inf")  # local receive time of the last applied update, s
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.sequence = -1
        self.synced = False
        self.chained = False
        self._sorted = None

    def replace(self, bids, asks, sequence: int, ts: float) -> None:
        """Load a full snapshot (levels as [price, qty] string or number pairs)."""
        self.bids = {float(p): float(q) for p, q, *_ in bids if float(q) > 0.0}
        self.asks = {float(p): float(q) for p, q, *_ in asks if float(q) > 0.0}
        self.sequence, self.ts, self.synced = sequence, ts, True
        self._sorted = None

    def apply(self, bids, asks, sequence: int, ts: float) -> None:
        """Apply absolute level changes."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, q, *_ in levels:
                price, qty = float(p), float(q)
                if qty > 0.0:
                    side[price] = qty
                else:
                    side.pop(price, None)
        self.sequence, self.ts = sequence, ts
        self._sorted = None

    def best(self) -> tuple[float, float, float, float]:
        """(bid price, bid qty, ask price, ask qty); NaN for an empty side."""
        bid = max(self.bids) if self.bids else float("nan")
        ask = min(self.asks) if self.asks else float("nan")
        return bid, self.bids.get(bid, float("nan")), ask, self.asks.get(ask, float("nan"))

    def crossed(self) -> bool:
        bid, _, ask, _ = self.best()
        return bid >= ask

    def top(self, levels: int) -> tuple[np.ndarray, np.ndarray]:
        """(levels, 2) [price, qty] for bids (descending) and asks (ascending), NaN-padded."""
        if self._sorted is None or self._sorted[0].shape[0] != levels:
            out = []
            for side, reverse in ((self.bids, True), (self.asks, False)):
                prices = sorted(side, reverse=reverse)[:levels]
                rows = np.full((levels, 2), np.nan)
                if prices:
                    rows[: len(prices), 0] = prices
                    rows[: len(prices), 1] = [side[p] for p in prices]
                out.append(rows)
            self._sorted = (out[0], out[1])
        return self._sorted
