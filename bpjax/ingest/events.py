"""Normalized market events: what every feed (and the simulator) hands to the accumulator.

Events are columnar: one event carries one or more rows of the same kind, as
NumPy columns of equal length, so a venue message with a list of trades, or the
simulator's whole-universe update, is one object. A single venue message is
simply an event with one row.

Conventions (every venue adapter normalizes into these):

* ``symbol`` is the engine's name (``BTCUSDT``), one per row.
* ``ts`` is the exchange timestamp in Unix seconds (float64); ``recv_ts`` is the
  local receive time in Unix seconds. Staleness is decided on ``recv_ts`` only:
  exchange clocks and the local clock differ.
* prices are quote per base; quantities and open interest are in base units;
  notionals in quote (USDT); funding rates are fractions per funding interval.
* trade ``side`` is the taker side (+1 buy, -1 sell); liquidation ``side`` is the
  side of the position that was force-closed (-1 long, +1 short), see
  :mod:`bpjax.core.defines`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bpjax.core.defines import RATIO_KINDS


def _column(values: object, dtype: type = np.float64) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=dtype))


def _symbols(symbols: str | Sequence[str]) -> tuple[str, ...]:
    return (symbols,) if isinstance(symbols, str) else tuple(symbols)


class EventError(ValueError):
    """An event was built with inconsistent columns."""


def _check_lengths(name: str, symbols: tuple[str, ...], **columns: np.ndarray) -> None:
    for column, values in columns.items():
        if values.shape[0] != len(symbols):
            raise EventError(
                f"{name}.{column} has {values.shape[0]} rows, expected {len(symbols)} (one per symbol)"
            )


@dataclass(frozen=True, slots=True, eq=False)
class Trades:
    """Taker trades, one row per trade."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray  # (row,) float64 exchange time, s
    price: np.ndarray  # (row,) float64
    qty: np.ndarray  # (row,) float64 base units
    side: np.ndarray  # (row,) int8, +1 taker buy, -1 taker sell
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, price, qty, side, recv_ts) -> Trades:
        price = _column(price)
        symbols = _symbols(symbol)
        if len(symbols) == 1 and price.shape[0] > 1:
            symbols = symbols * price.shape[0]
        event = cls(venue, symbols, _column(ts), price, _column(qty), _column(side, np.int8), float(recv_ts))
        _check_lengths("Trades", symbols, ts=event.ts, price=event.price, qty=event.qty, side=event.side)
        return event

    def after(self, t: float) -> Trades | None:
        """The rows with exchange time after ``t`` (None if none)."""
        keep = self.ts > t
        if not keep.any():
            return None
        symbols = tuple(s for s, k in zip(self.symbol, keep, strict=True) if k)
        return Trades(
            self.venue,
            symbols,
            self.ts[keep],
            self.price[keep],
            self.qty[keep],
            self.side[keep],
            self.recv_ts,
        )


@dataclass(frozen=True, slots=True, eq=False)
class BookLevels:
    """Top of an order book per symbol: price/quantity levels, best first, NaN-padded."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray  # (row,)
    bid_price: np.ndarray  # (row, level) descending
    bid_qty: np.ndarray  # (row, level) base units
    ask_price: np.ndarray  # (row, level) ascending
    ask_qty: np.ndarray  # (row, level)
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, bids, asks, recv_ts) -> BookLevels:
        """From ``bids``/``asks`` as (level, 2) [price, qty] arrays for one symbol, or
        (row, level, 2) for several."""
        bids = np.asarray(bids, dtype=np.float64)
        asks = np.asarray(asks, dtype=np.float64)
        if bids.ndim == 2:
            bids, asks = bids[None], asks[None]
        if bids.ndim != 3 or bids.shape[-1] != 2 or asks.ndim != 3 or asks.shape[-1] != 2:
            raise EventError(f"book levels must be (level, 2) [price, qty], found {bids.shape}/{asks.shape}")
        symbols = _symbols(symbol)
        event = cls(
            venue,
            symbols,
            _column(ts),
            bids[..., 0],
            bids[..., 1],
            asks[..., 0],
            asks[..., 1],
            float(recv_ts),
        )
        _check_lengths(
            "BookLevels", symbols, ts=event.ts, bid_price=event.bid_price, ask_price=event.ask_price
        )
        return event


@dataclass(frozen=True, slots=True, eq=False)
class MarkPrice:
    """Mark and index price per symbol (index NaN when the venue does not send it)."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray
    mark: np.ndarray
    index: np.ndarray
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, mark, index, recv_ts) -> MarkPrice:
        symbols = _symbols(symbol)
        event = cls(venue, symbols, _column(ts), _column(mark), _column(index), float(recv_ts))
        _check_lengths("MarkPrice", symbols, ts=event.ts, mark=event.mark, index=event.index)
        return event


@dataclass(frozen=True, slots=True, eq=False)
class Funding:
    """Current funding rate, predicted next rate (NaN if none) and next funding time (Unix s)."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray
    rate: np.ndarray
    predicted_rate: np.ndarray
    next_funding_ts: np.ndarray
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, rate, predicted_rate, next_funding_ts, recv_ts) -> Funding:
        symbols = _symbols(symbol)
        event = cls(
            venue,
            symbols,
            _column(ts),
            _column(rate),
            _column(predicted_rate),
            _column(next_funding_ts),
            float(recv_ts),
        )
        _check_lengths("Funding", symbols, ts=event.ts, rate=event.rate, next=event.next_funding_ts)
        return event


@dataclass(frozen=True, slots=True, eq=False)
class OpenInterest:
    """Open interest in base units."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray
    open_interest: np.ndarray
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, open_interest, recv_ts) -> OpenInterest:
        symbols = _symbols(symbol)
        event = cls(venue, symbols, _column(ts), _column(open_interest), float(recv_ts))
        _check_lengths("OpenInterest", symbols, ts=event.ts, open_interest=event.open_interest)
        return event


@dataclass(frozen=True, slots=True, eq=False)
class Liquidations:
    """Forced orders: ``side`` is the liquidated position (-1 long, +1 short)."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray
    side: np.ndarray  # (row,) int8
    price: np.ndarray
    qty: np.ndarray
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, side, price, qty, recv_ts) -> Liquidations:
        price = _column(price)
        symbols = _symbols(symbol)
        if len(symbols) == 1 and price.shape[0] > 1:
            symbols = symbols * price.shape[0]
        event = cls(venue, symbols, _column(ts), _column(side, np.int8), price, _column(qty), float(recv_ts))
        _check_lengths("Liquidations", symbols, ts=event.ts, side=event.side, qty=event.qty)
        return event


@dataclass(frozen=True, slots=True, eq=False)
class PositioningRatio:
    """A long/short ratio of one kind (see ``bpjax.core.defines.RATIO_KINDS``)."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray
    kind: str
    ratio: np.ndarray
    recv_ts: float

    @classmethod
    def of(cls, venue, symbol, ts, kind, ratio, recv_ts) -> PositioningRatio:
        if kind not in RATIO_KINDS:
            raise EventError(f"PositioningRatio.kind must be one of {', '.join(RATIO_KINDS)}, was {kind!r}")
        symbols = _symbols(symbol)
        event = cls(venue, symbols, _column(ts), kind, _column(ratio), float(recv_ts))
        _check_lengths("PositioningRatio", symbols, ts=event.ts, ratio=event.ratio)
        return event


@dataclass(frozen=True, slots=True, eq=False)
class Bars:
    """Completed OHLCV bars (history backfill from a venue's klines), one row per symbol: the
    accumulator folds a bar like the trades it summarizes. What a bar cannot tell (large prints)
    stays masked."""

    venue: str
    symbol: tuple[str, ...]
    ts: np.ndarray  # (row,) bar close time, s
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base
    buy_volume: np.ndarray  # taker-buy base volume
    trade_count: np.ndarray
    turnover: np.ndarray  # quote volume
    recv_ts: float

    @classmethod
    def of(
        cls, venue, symbol, ts, open, high, low, close, volume, buy_volume, trade_count, turnover, recv_ts
    ):
        symbols = _symbols(symbol)
        columns = [
            _column(c) for c in (ts, open, high, low, close, volume, buy_volume, trade_count, turnover)
        ]
        event = cls(venue, symbols, *columns, float(recv_ts))
        _check_lengths(
            "Bars",
            symbols,
            **{
                name: c
                for name, c in zip(
                    ("ts", "open", "high", "low", "close", "volume", "buy_volume", "trade_count", "turnover"),
                    columns,
                    strict=True,
                )
            },
        )
        return event


@dataclass(frozen=True, slots=True, eq=False)
class Heartbeat:
    """A feed group is alive for these symbols although it carried no data (e.g. no liquidations)."""

    venue: str
    group: str
    symbol: tuple[str, ...]
    recv_ts: float

    @classmethod
    def of(cls, venue, group, symbol, recv_ts) -> Heartbeat:
        return cls(venue, group, _symbols(symbol), float(recv_ts))


Event = (
    Trades
    | BookLevels
    | MarkPrice
    | Funding
    | OpenInterest
    | Liquidations
    | PositioningRatio
    | Bars
    | Heartbeat
)
