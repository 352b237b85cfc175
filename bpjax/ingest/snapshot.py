"""Host side of a tick: fold normalized events into per-symbol accumulators, pack one snapshot.

The :class:`Accumulator` owns NumPy arrays over the whole universe (no Python
objects per symbol). Feeds call :meth:`Accumulator.apply` with normalized events
at any rate; once per engine tick :meth:`Accumulator.pack` turns what arrived
into a :class:`Snapshot` of fixed-shape float32 arrays with a validity mask, and
starts the next tick.

A field is valid in a snapshot when its feed delivered it (or a heartbeat kept
the feed alive) within the feed's staleness window, measured on local receive
time, and the value is finite. Everything else is masked: a masked value is
never data. Rows that cannot be used (unknown symbol, NaN/inf, non-positive
price or size, bad side) are counted per reason and dropped, never raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import Counter
from typing import NamedTuple

import numpy as np

from bpjax.core.config import Config
from bpjax.core.defines import (
    DEPTH_BANDS_BPS,
    FEED_LIQUIDATIONS,
    FEED_TRADES,
    LONG_LIQUIDATED,
    RATIO_GLOBAL_ACCOUNTS,
    RATIO_TAKER,
    RATIO_TOP_ACCOUNTS,
    RATIO_TOP_POSITIONS,
    SHORT_LIQUIDATED,
    VENUES,
)
from bpjax.core.fields import FIELD_INDEX, FIELDS, IS_LEVEL, NUM_FIELDS, group_fields
from bpjax.ingest.events import (
    Bars,
    BookLevels,
    Event,
    Funding,
    Heartbeat,
    Liquidations,
    MarkPrice,
    OpenInterest,
    PositioningRatio,
    Trades,
)

log = logging.getLogger(__name__)

CLOCK_FEATURES = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos")
_RATIO_FIELD = {
    RATIO_GLOBAL_ACCOUNTS: "ls_global_accounts",
    RATIO_TOP_ACCOUNTS: "ls_top_accounts",
    RATIO_TOP_POSITIONS: "ls_top_positions",
    RATIO_TAKER: "taker_ratio",
}
_PRICE_FIELDS = [FIELD_INDEX[name] for name in ("open", "high", "low", "close")]
_FLOW_FIELDS = [i for i in group_fields(FEED_TRADES) if i not in _PRICE_FIELDS]
_F = FIELD_INDEX


class Snapshot(NamedTuple):
    """One engine tick, packed: the only thing that crosses to the device."""

    fields: np.ndarray  # (sym, field) float32; masked entries hold the last value or 0
    valid: np.ndarray  # (sym, field) bool
    bar_index: np.ndarray  # (tf,) int32 index of the bar this tick belongs to (tick start // tf)
    bar_progress: np.ndarray  # (tf,) float32 share of that bar elapsed at the tick's end, (0, 1]
    clock: np.ndarray  # (4,) float32 sin/cos of hour of day and day of week (UTC)


class SnapshotLayout:
    """One snapshot as ONE float32 buffer: a single host-to-device transfer per tick.

    Layout (flat): fields (sym x field) | valid as 0/1 (sym x field) | bar_index (tf, int32 bits)
    | bar_progress (tf) | clock (4). The integer bar indices travel bit-for-bit (bitcast), so
    they stay exact beyond float32's 2^24.
    """

    def __init__(self, num_symbols: int, num_timeframes: int, num_fields: int = NUM_FIELDS):
        self.sym, self.tf, self.field = num_symbols, num_timeframes, num_fields
        cells = num_symbols * num_fields
        self.bounds = np.cumsum([0, cells, cells, num_timeframes, num_timeframes, len(CLOCK_FEATURES)])
        self.size = int(self.bounds[-1])

    def pack(self, snapshot: Snapshot, out: np.ndarray | None = None) -> np.ndarray:
        buffer = np.empty(self.size, np.float32) if out is None else out
        b = self.bounds
        buffer[b[0] : b[1]] = snapshot.fields.reshape(-1)
        buffer[b[1] : b[2]] = snapshot.valid.reshape(-1)
        buffer[b[2] : b[3]] = np.asarray(snapshot.bar_index, np.int32).view(np.float32)
        buffer[b[3] : b[4]] = snapshot.bar_progress
        buffer[b[4] : b[5]] = snapshot.clock
        return buffer

    def unpack(self, buffer) -> Snapshot:
        """The snapshot inside the jitted tick (jnp arrays); works on NumPy buffers too."""
        import jax
        import jax.numpy as jnp

        b = self.bounds
        return Snapshot(
            fields=buffer[b[0] : b[1]].reshape(self.sym, self.field),
            valid=buffer[b[1] : b[2]].reshape(self.sym, self.field) > 0.5,
            bar_index=jax.lax.bitcast_convert_type(jnp.asarray(buffer[b[2] : b[3]]), jnp.int32),
            bar_progress=buffer[b[3] : b[4]],
            clock=buffer[b[4] : b[5]],
        )


def tick_timing(config: Config, tick_end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar index and progress per timeframe, and clock features, for the tick ending at ``tick_end``."""
    tick = config.engine.tick_seconds
    tick_start = tick_end - tick
    # a timeframe finer than the tick (bar-only history on a coarse tick) runs on the tick's own
    # bars, one per tick, and the engine masks it: its cards carry no confidence
    seconds = np.array([max(tf.seconds, tick) for tf in config.timeframes], dtype=np.float64)
    bar_index = np.floor(tick_start / seconds)
    progress = (tick_end - bar_index * seconds) / seconds
    moment = dt.datetime.fromtimestamp(tick_start, dt.UTC)
    hour = (moment.hour + moment.minute / 60.0) / 24.0 * 2 * math.pi
    weekday = (moment.weekday() + hour / (2 * math.pi)) / 7.0 * 2 * math.pi
    clock = np.array([math.sin(hour), math.cos(hour), math.sin(weekday), math.cos(weekday)], np.float32)
    return bar_index.astype(np.int32), progress.astype(np.float32), clock


def _field_stale_seconds(config: Config) -> np.ndarray:
    stale = config.engine.stale_seconds
    out = np.empty(NUM_FIELDS, dtype=np.float64)
    for i, field in enumerate(FIELDS):
        if field.group.startswith("venue_") and field.name.startswith("funding_"):
            out[i] = stale.funding
        else:
            out[i] = stale.for_group(field.group)
    return out


class Accumulator:
    """Per-symbol accumulators for the whole universe, folded from events and packed per tick."""

    def __init__(self, config: Config):
        self.config = config
        self.symbols = config.symbols
        self.primary = config.universe.primary_venue
        self.index = {symbol: i for i, symbol in enumerate(self.symbols)}
        n = len(self.symbols)
        self.values = np.zeros((n, NUM_FIELDS), dtype=np.float64)  # current tick / last level
        self.has_value = np.zeros((n, NUM_FIELDS), dtype=bool)  # a level ever set / a flow seen
        self.last_update = np.full((n, NUM_FIELDS), -np.inf)  # local receive time per field
        self.next_funding_ts = np.full(n, np.nan)
        self.last_price = np.full(n, np.nan)  # last primary-venue trade price
        self.tick_traded = np.zeros(n, dtype=bool)  # a primary trade arrived this tick
        self.stale_seconds = _field_stale_seconds(config)
        self.large_notional = config.engine.large_trade_notional
        self.rejected: Counter[str] = Counter()  # reason -> rows dropped
        self.events_applied = 0
        self.nonfinite_packed = 0

    # --- event folding ------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Fold one normalized event in. Unusable rows are counted in :attr:`rejected`, never raised."""
        handler = self._handlers.get(type(event))
        if handler is None:
            self._reject(f"unknown event type {type(event).__name__}", 1)
            return
        handler(self, event)
        self.events_applied += 1

    def apply_all(self, events) -> None:
        for event in events:
            self.apply(event)

    def _reject(self, reason: str, count: int) -> None:
        if count:
            if reason not in self.rejected:
                log.warning("dropping market data rows: %s", reason)
            self.rejected[reason] += int(count)

    def _rows(self, kind: str, symbols: tuple[str, ...], *columns: np.ndarray, positive=()):
        """Symbol indices and a keep-mask: known symbol, finite columns, positive where required."""
        idx = np.fromiter((self.index.get(s, -1) for s in symbols), dtype=np.int64, count=len(symbols))
        keep = idx >= 0
        self._reject(f"{kind}: symbol not in the universe", np.count_nonzero(~keep))
        for column in columns:
            finite = np.isfinite(column)
            self._reject(f"{kind}: non-finite value", np.count_nonzero(keep & ~finite))
            keep &= finite
        for column in positive:
            bad = keep & ~(column > 0)
            self._reject(f"{kind}: non-positive price or size", np.count_nonzero(bad))
            keep &= ~bad
        return idx, keep

    def _touch(self, idx: np.ndarray, fields: list[int], recv_ts: float) -> None:
        if idx.size:
            rows = np.repeat(idx, len(fields))
            cols = np.tile(np.asarray(fields), idx.size)
            self.last_update[rows, cols] = np.maximum(self.last_update[rows, cols], recv_ts)

    def _set_level(self, idx: np.ndarray, field: str, values: np.ndarray, recv_ts: float) -> None:
        column = _F[field]
        self.values[idx, column] = values
        self.has_value[idx, column] = True
        self.last_update[idx, column] = recv_ts

    def _on_trades(self, event: Trades) -> None:
        side_ok = np.isin(event.side, (1, -1))
        self._reject("trades: side is not +1/-1", np.count_nonzero(~side_ok))
        idx, keep = self._rows(
            "trades", event.symbol, event.price, event.qty, positive=(event.price, event.qty)
        )
        keep &= side_ok
        if not keep.any():
            return
        idx, price, qty, side = idx[keep], event.price[keep], event.qty[keep], event.side[keep]
        notional = price * qty
        buy = side > 0
        large = notional >= self.large_notional
        self._add_flows(
            idx,
            event.recv_ts,
            volume=qty,
            buy_volume=np.where(buy, qty, 0.0),
            sell_volume=np.where(buy, 0.0, qty),
            trade_count=np.ones_like(qty),
            turnover=notional,
            large_buy_notional=np.where(buy & large, notional, 0.0),
            large_sell_notional=np.where(~buy & large, notional, 0.0),
        )
        if event.venue == self.primary:
            self._fold_ohlc(idx, price, price, price, price, event.recv_ts)

    def _add_flows(self, idx: np.ndarray, recv_ts: float, **flows: np.ndarray) -> None:
        """Add flow rows into the tick's sums; only the named flow fields become data."""
        for name, values in flows.items():
            np.add.at(self.values[:, _F[name]], idx, values)
        fields = [_F[name] for name in flows]
        unique = np.unique(idx)
        self.has_value[np.ix_(unique, fields)] = True
        self._touch(unique, fields, recv_ts)

    def _fold_ohlc(self, idx, open_, high, low, close, recv_ts: float) -> None:
        """Fold primary-venue rows, in arrival order, into the tick's OHLC: a symbol's first row of
        the tick opens it, highs and lows extend it, its last row closes it (and is the last price)."""
        v = self.values
        first_sym, first_pos = np.unique(idx, return_index=True)
        last_pos = idx.size - 1 - np.unique(idx[::-1], return_index=True)[1]
        new = ~self.tick_traded[first_sym]
        opening, opening_pos = first_sym[new], first_pos[new]
        v[opening, _F["open"]] = open_[opening_pos]
        v[opening, _F["high"]] = -np.inf
        v[opening, _F["low"]] = np.inf
        np.maximum.at(v[:, _F["high"]], idx, high)
        np.minimum.at(v[:, _F["low"]], idx, low)
        v[first_sym, _F["close"]] = close[last_pos]
        self.last_price[first_sym] = close[last_pos]
        self.tick_traded[first_sym] = True
        self.has_value[np.ix_(first_sym, _PRICE_FIELDS)] = True
        self._touch(first_sym, _PRICE_FIELDS, recv_ts)

    def _on_book(self, event: BookLevels) -> None:
        best_bid, best_ask = event.bid_price[:, 0], event.ask_price[:, 0]
        idx, keep = self._rows(
            "book",
            event.symbol,
            best_bid,
            best_ask,
            event.bid_qty[:, 0],
            event.ask_qty[:, 0],
            positive=(best_bid, best_ask),
        )
        crossed = keep & (best_bid >= best_ask)
        self._reject("book: crossed or locked top of book", np.count_nonzero(crossed))
        keep &= ~crossed
        if not keep.any():
            return
        idx, recv = idx[keep], event.recv_ts
        bid_p, bid_q = event.bid_price[keep], event.bid_qty[keep]
        ask_p, ask_q = event.ask_price[keep], event.ask_qty[keep]
        mid = 0.5 * (bid_p[:, 0] + ask_p[:, 0])
        if event.venue in VENUES:
            self._set_level(idx, f"mid_{event.venue}", mid, recv)
        if event.venue != self.primary:
            return
        top_bid, top_ask = bid_q[:, 0], ask_q[:, 0]
        micro = (bid_p[:, 0] * top_ask + ask_p[:, 0] * top_bid) / np.maximum(top_bid + top_ask, 1e-300)
        self._set_level(idx, "mid", mid, recv)
        self._set_level(idx, "spread_bps", (ask_p[:, 0] - bid_p[:, 0]) / mid * 1e4, recv)
        self._set_level(idx, "micro_price", micro, recv)
        bid_notional = np.nan_to_num(bid_p * bid_q, nan=0.0, posinf=0.0)
        ask_notional = np.nan_to_num(ask_p * ask_q, nan=0.0, posinf=0.0)
        with np.errstate(invalid="ignore"):
            bid_distance = (mid[:, None] - bid_p) / mid[:, None] * 1e4
            ask_distance = (ask_p - mid[:, None]) / mid[:, None] * 1e4
        for band in DEPTH_BANDS_BPS:
            bids = np.where(bid_distance <= band, bid_notional, 0.0).sum(axis=1)
            asks = np.where(ask_distance <= band, ask_notional, 0.0).sum(axis=1)
            self._set_level(idx, f"bid_depth_{band}", bids, recv)
            self._set_level(idx, f"ask_depth_{band}", asks, recv)

    def _on_mark(self, event: MarkPrice) -> None:
        """A row sets the mark, the index or both; a mark that is NaN means "not in this source"
        (an imported index series), a row with neither is dropped."""
        if event.venue != self.primary:
            return
        idx, known = self._rows("mark", event.symbol)
        has_mark = known & np.isfinite(event.mark) & (event.mark > 0)
        has_index = known & np.isfinite(event.index) & (event.index > 0)
        bad = known & ~has_mark & ~(np.isnan(event.mark) & has_index)
        self._reject("mark: non-finite or non-positive price", np.count_nonzero(bad))
        if has_mark.any():
            self._set_level(idx[has_mark], "mark", event.mark[has_mark], event.recv_ts)
        has_index &= ~bad
        if has_index.any():
            self._set_level(idx[has_index], "index", event.index[has_index], event.recv_ts)

    def _on_funding(self, event: Funding) -> None:
        idx, keep = self._rows("funding", event.symbol, event.rate)
        if not keep.any():
            return
        if event.venue in VENUES:
            self._set_level(idx[keep], f"funding_{event.venue}", event.rate[keep], event.recv_ts)
        if event.venue != self.primary:
            return
        self._set_level(idx[keep], "funding_rate", event.rate[keep], event.recv_ts)
        predicted = keep & np.isfinite(event.predicted_rate)
        if predicted.any():
            self._set_level(
                idx[predicted], "predicted_funding", event.predicted_rate[predicted], event.recv_ts
            )
        timed = keep & np.isfinite(event.next_funding_ts)
        if timed.any():
            self.next_funding_ts[idx[timed]] = event.next_funding_ts[timed]
            self._set_level(idx[timed], "funding_time_left", np.zeros(np.count_nonzero(timed)), event.recv_ts)

    def _on_open_interest(self, event: OpenInterest) -> None:
        idx, keep = self._rows("open interest", event.symbol, event.open_interest)
        negative = keep & (event.open_interest < 0)
        self._reject("open interest: negative value", np.count_nonzero(negative))
        keep &= ~negative
        if event.venue == self.primary and keep.any():
            self._set_level(idx[keep], "open_interest", event.open_interest[keep], event.recv_ts)

    def _on_liquidations(self, event: Liquidations) -> None:
        side_ok = np.isin(event.side, (LONG_LIQUIDATED, SHORT_LIQUIDATED))
        self._reject("liquidations: side is not long/short", np.count_nonzero(~side_ok))
        idx, keep = self._rows(
            "liquidations", event.symbol, event.price, event.qty, positive=(event.price, event.qty)
        )
        keep &= side_ok
        if not keep.any():
            return
        idx, qty, side = idx[keep], event.qty[keep], event.side[keep]
        notional = event.price[keep] * qty
        v = self.values
        for name, which in (("long", LONG_LIQUIDATED), ("short", SHORT_LIQUIDATED)):
            np.add.at(v[:, _F[f"liq_{name}_notional"]], idx, np.where(side == which, notional, 0.0))
            np.add.at(v[:, _F[f"liq_{name}_qty"]], idx, np.where(side == which, qty, 0.0))
        unique = np.unique(idx)
        fields = group_fields(FEED_LIQUIDATIONS)
        self.has_value[np.ix_(unique, fields)] = True
        self._touch(unique, fields, event.recv_ts)

    def _on_bars(self, event: Bars) -> None:
        """Bars fold like the trades they summarize. Taker-buy volume, trade count and turnover
        may be NaN, "not in this source" (OHLCV-only history): those fields stay masked."""
        prices = (event.open, event.high, event.low, event.close)
        idx, keep = self._rows("bars", event.symbol, *prices, event.volume, positive=prices)
        optional = {
            "buy_volume": event.buy_volume,
            "trade_count": event.trade_count,
            "turnover": event.turnover,
        }
        for column in optional.values():
            infinite = keep & np.isinf(column)
            self._reject("bars: non-finite value", np.count_nonzero(infinite))
            keep &= ~infinite
        ordered = (
            keep
            & (event.low <= np.minimum(event.open, event.close))
            & (event.high >= np.maximum(event.open, event.close))
        )
        self._reject("bars: high/low do not bracket open/close", np.count_nonzero(keep & ~ordered))
        keep = ordered & ~(event.buy_volume > event.volume) & (event.volume >= 0)
        if not keep.any():
            return
        idx, volume, buy = idx[keep], event.volume[keep], event.buy_volume[keep]
        self._add_flows(idx, event.recv_ts, volume=volume)  # large prints are not in a bar: masked
        split = np.isfinite(buy)
        if split.any():
            self._add_flows(
                idx[split], event.recv_ts, buy_volume=buy[split], sell_volume=(volume - buy)[split]
            )
        for name in ("trade_count", "turnover"):
            column = optional[name][keep]
            known = np.isfinite(column)
            if known.any():
                self._add_flows(idx[known], event.recv_ts, **{name: column[known]})
        if event.venue == self.primary:
            self._fold_ohlc(
                idx, event.open[keep], event.high[keep], event.low[keep], event.close[keep], event.recv_ts
            )

    def _on_ratio(self, event: PositioningRatio) -> None:
        idx, keep = self._rows("positioning", event.symbol, event.ratio, positive=(event.ratio,))
        if keep.any():
            self._set_level(idx[keep], _RATIO_FIELD[event.kind], event.ratio[keep], event.recv_ts)

    def _on_heartbeat(self, event: Heartbeat) -> None:
        idx, keep = self._rows("heartbeat", event.symbol)
        idx = idx[keep]
        if event.group == FEED_TRADES:
            fields = _FLOW_FIELDS + (_PRICE_FIELDS if event.venue == self.primary else [])
        else:
            fields = group_fields(event.group)
            if not fields:
                self._reject(f"heartbeat: unknown feed group {event.group!r}", 1)
                return
        # a heartbeat keeps flows alive (zero is real data then) but never invents a level
        flows = [f for f in fields if not IS_LEVEL[f]]
        if flows:
            self.has_value[np.ix_(idx, flows)] = True
        self._touch(idx, fields, event.recv_ts)

    _handlers = {
        Trades: _on_trades,
        BookLevels: _on_book,
        MarkPrice: _on_mark,
        Funding: _on_funding,
        OpenInterest: _on_open_interest,
        Liquidations: _on_liquidations,
        PositioningRatio: _on_ratio,
        Bars: _on_bars,
        Heartbeat: _on_heartbeat,
    }

    # --- packing ------------------------------------------------------------------------------
    def pack(self, now: float) -> Snapshot:
        """The snapshot of the tick ending at ``now`` (local time, Unix s); starts the next tick."""
        v = self.values
        # a tick without primary trades is a flat bar at the last traded price
        quiet = ~self.tick_traded & np.isfinite(self.last_price)
        for column in _PRICE_FIELDS:
            v[quiet, column] = self.last_price[quiet]
        timed = np.isfinite(self.next_funding_ts)
        v[timed, _F["funding_time_left"]] = np.maximum(self.next_funding_ts[timed] - now, 0.0)

        fresh = (now - self.last_update) <= self.stale_seconds
        valid = fresh & self.has_value
        packed = v.astype(np.float32)
        finite = np.isfinite(packed)
        nonfinite = valid & ~finite
        if nonfinite.any():
            self.nonfinite_packed += int(nonfinite.sum())
            log.warning("masked %d non-finite snapshot values", int(nonfinite.sum()))
        valid &= finite
        packed = np.where(finite, packed, 0.0).astype(np.float32)

        bar_index, progress, clock = tick_timing(self.config, now)
        snapshot = Snapshot(packed, valid, bar_index, progress, clock)

        # next tick: flows restart at zero, levels persist
        flows = ~IS_LEVEL
        v[:, flows] = 0.0
        self.tick_traded[:] = False
        return snapshot

    def health(self, now: float) -> dict[str, object]:
        """Per feed-group freshness and the rejected-row counts, for logs and the API."""
        age = now - self.last_update
        groups: dict[str, float] = {}
        for i, field in enumerate(FIELDS):
            groups[field.group] = min(groups.get(field.group, np.inf), float(np.min(age[:, i])))
        return {
            "events": self.events_applied,
            "rejected": dict(self.rejected),
            "nonfinite_packed": self.nonfinite_packed,
            "youngest_age_seconds": {
                k: (None if not np.isfinite(a) else round(a, 3)) for k, a in groups.items()
            },
        }


def empty_snapshot(config: Config, now: float) -> Snapshot:
    """A snapshot with every field masked (a tick in which nothing arrived)."""
    n = len(config.symbols)
    bar_index, progress, clock = tick_timing(config, now)
    return Snapshot(
        np.zeros((n, NUM_FIELDS), np.float32), np.zeros((n, NUM_FIELDS), bool), bar_index, progress, clock
    )
