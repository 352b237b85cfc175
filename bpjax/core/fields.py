"""The snapshot field table: what one packed row per symbol holds, and how ticks fold into bars.

Every field has a unit, the feed group whose freshness decides its mask, and an
aggregation rule used twice: by the host accumulator (events -> one tick) and by
the device ring buffers (ticks -> the open bar of each timeframe).

Aggregation rules
    first  the first valid value of the period (bar open)
    last   the latest valid value (levels: prices, rates, open interest, depth)
    max    the largest valid value
    min    the smallest valid value
    sum    the sum of valid values (flows: volume, notional, counts)

Level fields ("first", "last", "max", "min") carry their last value forward into a
new bar with the mask off until fresh data arrives; flow fields start at zero with
the mask off. A masked value is never data: cards must read the mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bpjax.core.defines import (
    DEPTH_BANDS_BPS,
    FEED_BOOK,
    FEED_FUNDING,
    FEED_LIQUIDATIONS,
    FEED_MARK,
    FEED_OPEN_INTEREST,
    FEED_POSITIONING,
    FEED_TRADES,
    VENUES,
)

AGG_FIRST, AGG_LAST, AGG_MAX, AGG_MIN, AGG_SUM = range(5)
AGGREGATIONS = {"first": AGG_FIRST, "last": AGG_LAST, "max": AGG_MAX, "min": AGG_MIN, "sum": AGG_SUM}


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    aggregation: str
    group: str
    unit: str
    description: str


def _fields() -> tuple[Field, ...]:
    rows = [
        Field("open", "first", FEED_TRADES, "quote/base", "first trade price (primary venue)"),
        Field("high", "max", FEED_TRADES, "quote/base", "highest trade price (primary venue)"),
        Field("low", "min", FEED_TRADES, "quote/base", "lowest trade price (primary venue)"),
        Field("close", "last", FEED_TRADES, "quote/base", "last trade price (primary venue)"),
        Field("volume", "sum", FEED_TRADES, "base", "traded quantity, all venues"),
        Field("buy_volume", "sum", FEED_TRADES, "base", "taker-buy quantity, all venues"),
        Field("sell_volume", "sum", FEED_TRADES, "base", "taker-sell quantity, all venues"),
        Field("trade_count", "sum", FEED_TRADES, "trades", "number of trades, all venues"),
        Field("turnover", "sum", FEED_TRADES, "quote", "sum of price x quantity (VWAP numerator)"),
        Field("large_buy_notional", "sum", FEED_TRADES, "quote", "taker-buy notional of large prints"),
        Field("large_sell_notional", "sum", FEED_TRADES, "quote", "taker-sell notional of large prints"),
        Field("mark", "last", FEED_MARK, "quote/base", "mark price (primary venue)"),
        Field("index", "last", FEED_MARK, "quote/base", "index (spot basket) price"),
        Field("funding_rate", "last", FEED_FUNDING, "1/interval", "current funding rate"),
        Field("predicted_funding", "last", FEED_FUNDING, "1/interval", "predicted next funding rate"),
        Field("funding_time_left", "last", FEED_FUNDING, "s", "seconds until the next funding"),
        Field("open_interest", "last", FEED_OPEN_INTEREST, "base", "open interest"),
        Field("liq_long_notional", "sum", FEED_LIQUIDATIONS, "quote", "long positions force-closed"),
        Field("liq_short_notional", "sum", FEED_LIQUIDATIONS, "quote", "short positions force-closed"),
        # the quantities give the forced orders' average price (notional / quantity): where the
        # zone engine places realized liquidations
        Field("liq_long_qty", "sum", FEED_LIQUIDATIONS, "base", "long quantity force-closed"),
        Field("liq_short_qty", "sum", FEED_LIQUIDATIONS, "base", "short quantity force-closed"),
    ]
    for band in DEPTH_BANDS_BPS:
        rows.append(Field(f"bid_depth_{band}", "last", FEED_BOOK, "quote", f"bid notional within {band} bp"))
        rows.append(Field(f"ask_depth_{band}", "last", FEED_BOOK, "quote", f"ask notional within {band} bp"))
    rows += [
        Field("spread_bps", "last", FEED_BOOK, "bp", "best ask - best bid over mid"),
        Field("mid", "last", FEED_BOOK, "quote/base", "(best bid + best ask) / 2"),
        Field("micro_price", "last", FEED_BOOK, "quote/base", "size-weighted mid of the top level"),
        Field("ls_global_accounts", "last", FEED_POSITIONING, "ratio", "long/short accounts, all"),
        Field("ls_top_accounts", "last", FEED_POSITIONING, "ratio", "long/short accounts, top"),
        Field("ls_top_positions", "last", FEED_POSITIONING, "ratio", "long/short positions, top"),
        Field("taker_ratio", "last", FEED_POSITIONING, "ratio", "taker buy/sell volume ratio"),
    ]
    for venue in VENUES:
        rows.append(Field(f"mid_{venue}", "last", f"venue_{venue}", "quote/base", f"{venue} mid"))
    for venue in VENUES:
        rows.append(Field(f"funding_{venue}", "last", f"venue_{venue}", "1/interval", f"{venue} funding"))
    return tuple(rows)


FIELDS: tuple[Field, ...] = _fields()
FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in FIELDS)
FIELD_INDEX: dict[str, int] = {name: i for i, name in enumerate(FIELD_NAMES)}
NUM_FIELDS = len(FIELDS)

# (field,) integer aggregation code, for vectorized folding on host and device
AGGREGATION_CODES: np.ndarray = np.array(
    [AGGREGATIONS[field.aggregation] for field in FIELDS], dtype=np.int32
)
# (field,) True for level fields (carried forward into a new bar with the mask off)
IS_LEVEL: np.ndarray = AGGREGATION_CODES != AGG_SUM

# physically plausible range of each unit: a value outside it (a negative price, a volume of
# 1e30, a funding rate of 300 %) is masked on the device like a NaN, never folded into bars
UNIT_BOUNDS: dict[str, tuple[float, float]] = {
    "quote/base": (1e-12, 1e12),  # prices: strictly positive
    "base": (0.0, 1e15),
    "quote": (0.0, 1e16),
    "trades": (0.0, 1e9),
    "1/interval": (-1.0, 1.0),
    "s": (0.0, 1e7),
    "bp": (0.0, 1e5),
    "ratio": (1e-6, 1e6),
}
LOWER_BOUNDS: np.ndarray = np.array([UNIT_BOUNDS[f.unit][0] for f in FIELDS], dtype=np.float32)
UPPER_BOUNDS: np.ndarray = np.array([UNIT_BOUNDS[f.unit][1] for f in FIELDS], dtype=np.float32)


def field_index(name: str) -> int:
    """Index of a snapshot field, with the valid names in the error."""
    try:
        return FIELD_INDEX[name]
    except KeyError:
        raise KeyError(f"unknown field {name!r}; valid fields: {', '.join(FIELD_NAMES)}") from None


def group_fields(group: str) -> list[int]:
    return [i for i, field in enumerate(FIELDS) if field.group == group]
