"""Host accumulators and the packer: values, masks, staleness and bad rows."""

from __future__ import annotations

import numpy as np
import pytest

from bpjax.core.defines import (
    FEED_LIQUIDATIONS,
    FEED_TRADES,
    LONG_LIQUIDATED,
    RATIO_TOP_POSITIONS,
    SHORT_LIQUIDATED,
)
from bpjax.core.fields import FIELD_INDEX as F
from bpjax.ingest.events import (
    Bars,
    BookLevels,
    EventError,
    Funding,
    Heartbeat,
    Liquidations,
    MarkPrice,
    OpenInterest,
    PositioningRatio,
    Trades,
)
from bpjax.ingest.snapshot import Accumulator, SnapshotLayout, empty_snapshot, tick_timing

T = 1_767_571_200.0  # 2026-01-05T00:00:00Z


@pytest.fixture
def accumulator(config):
    return Accumulator(config)


def test_trades_fold_into_ohlcv_flows_and_large_prints(accumulator):
    accumulator.apply(
        Trades.of(
            "binance",
            "BTCUSDT",
            [T - 9, T - 8, T - 7, T - 6],
            [100.0, 103.0, 99.0, 101.0],
            [1.0, 2.0, 1500.0, 0.5],
            [1, -1, 1, -1],
            T - 5,
        )
    )
    accumulator.apply(Trades.of("bybit", "BTCUSDT", T - 4, 250.0, 3.0, -1, T - 4))
    snap = accumulator.pack(T)
    row, ok = snap.fields[0], snap.valid[0]
    assert [row[F[k]] for k in ("open", "high", "low", "close")] == [100.0, 103.0, 99.0, 101.0]
    assert row[F["volume"]] == pytest.approx(1506.5)
    assert row[F["buy_volume"]] == pytest.approx(1501.0)
    assert row[F["sell_volume"]] == pytest.approx(5.5)
    assert row[F["trade_count"]] == 5
    assert row[F["turnover"]] == pytest.approx(100 + 206 + 148_500 + 50.5 + 750)
    assert row[F["large_buy_notional"]] == pytest.approx(148_500)
    assert row[F["large_sell_notional"]] == 0.0
    assert ok[[F[k] for k in ("open", "close", "volume", "turnover")]].all()
    assert not ok[F["mark"]] and not ok[F["funding_rate"]]  # nothing arrived: masked, never zero-as-data


def test_a_quiet_tick_is_a_flat_bar_at_the_last_price_and_flows_restart(accumulator):
    accumulator.apply(Trades.of("binance", "ETHUSDT", T - 5, 10.0, 2.0, 1, T - 5))
    accumulator.pack(T)
    snap = accumulator.pack(T + 10)
    row, ok = snap.fields[1], snap.valid[1]
    assert [row[F[k]] for k in ("open", "high", "low", "close")] == [10.0] * 4
    assert row[F["volume"]] == 0.0 and ok[F["volume"]]  # zero volume while the feed is alive is data


def test_trade_fields_go_stale_after_the_configured_silence(accumulator, config):
    accumulator.apply(Trades.of("binance", "ETHUSDT", T, 10.0, 2.0, 1, T))
    stale_after = config.engine.stale_seconds.trades
    assert accumulator.pack(T + stale_after).valid[1, F["close"]]
    assert not accumulator.pack(T + stale_after + 1).valid[1, F["close"]]


def test_book_levels_give_bands_spread_and_micro_price(accumulator):
    bids = [[99.95, 2.0], [99.9, 3.0], [99.0, 10.0], [97.0, 50.0]]
    asks = [[100.05, 1.0], [100.2, 4.0], [101.0, 5.0], [103.0, 9.0]]
    accumulator.apply(BookLevels.of("binance", "BTCUSDT", T, bids, asks, T))
    accumulator.apply(BookLevels.of("okx", "BTCUSDT", T, [[100.5, 1.0]], [[100.7, 1.0]], T))
    row = accumulator.pack(T).fields[0]
    assert row[F["mid"]] == pytest.approx(100.0)
    assert row[F["spread_bps"]] == pytest.approx(10.0)
    assert row[F["micro_price"]] == pytest.approx((99.95 * 1.0 + 100.05 * 2.0) / 3.0)
    assert row[F["bid_depth_10"]] == pytest.approx(99.95 * 2 + 99.9 * 3)
    assert row[F["ask_depth_10"]] == pytest.approx(100.05 * 1)
    assert row[F["ask_depth_50"]] == pytest.approx(100.05 + 100.2 * 4)
    assert row[F["bid_depth_200"]] == pytest.approx(99.95 * 2 + 99.9 * 3 + 99.0 * 10)
    assert row[F["mid_okx"]] == pytest.approx(100.6)


def test_derivatives_and_positioning_fields(accumulator):
    accumulator.apply(MarkPrice.of("binance", "SOLUSDT", T, 150.5, 150.0, T))
    accumulator.apply(Funding.of("binance", "SOLUSDT", T, 1e-4, 2e-4, T + 3_600, T))
    accumulator.apply(Funding.of("bybit", "SOLUSDT", T, 3e-4, np.nan, T + 3_600, T))
    accumulator.apply(OpenInterest.of("binance", "SOLUSDT", T, 12_345.0, T))
    accumulator.apply(PositioningRatio.of("binance", "SOLUSDT", T, RATIO_TOP_POSITIONS, 1.7, T))
    snap = accumulator.pack(T + 10)
    row, ok = snap.fields[2], snap.valid[2]
    assert (row[F["mark"]], row[F["index"]]) == (150.5, 150.0)
    assert row[F["funding_rate"]] == pytest.approx(1e-4) and row[F["predicted_funding"]] == pytest.approx(
        2e-4
    )
    assert row[F["funding_bybit"]] == pytest.approx(3e-4) and ok[F["funding_bybit"]]
    assert row[F["funding_time_left"]] == pytest.approx(3_590.0)
    assert row[F["open_interest"]] == 12_345.0
    assert row[F["ls_top_positions"]] == pytest.approx(1.7)
    assert not ok[F["ls_global_accounts"]]


def test_liquidation_sides_are_position_sides(accumulator):
    accumulator.apply(
        Liquidations.of(
            "binance",
            ["XRPUSDT", "XRPUSDT"],
            [T, T],
            [LONG_LIQUIDATED, SHORT_LIQUIDATED],
            [0.5, 0.6],
            [1000.0, 10.0],
            T,
        )
    )
    row = accumulator.pack(T).fields[3]
    assert row[F["liq_long_notional"]] == pytest.approx(500.0)
    assert row[F["liq_short_notional"]] == pytest.approx(6.0)


def test_a_heartbeat_keeps_flows_alive_but_never_invents_a_level(accumulator):
    accumulator.apply(Heartbeat.of("binance", FEED_LIQUIDATIONS, ["DOGEUSDT"], T))
    accumulator.apply(Heartbeat.of("binance", FEED_TRADES, ["DOGEUSDT"], T))
    snap = accumulator.pack(T)
    ok = snap.valid[4]
    assert ok[F["liq_long_notional"]] and snap.fields[4, F["liq_long_notional"]] == 0.0
    assert ok[F["volume"]]
    assert not ok[F["close"]]  # no trade was ever seen: no price to carry


def test_bad_rows_are_counted_and_dropped_never_raised(accumulator):
    accumulator.apply(
        Trades.of(
            "binance",
            ["BTCUSDT"] * 5 + ["NOPEUSDT"],
            [T] * 6,
            [np.nan, np.inf, -1.0, 100.0, 100.0, 100.0],
            [1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
            [1, 1, 1, 1, 7, 1],
            T,
        )
    )
    accumulator.apply(BookLevels.of("binance", "BTCUSDT", T, [[101.0, 1.0]], [[100.0, 1.0]], T))
    snap = accumulator.pack(T)
    reasons = accumulator.rejected
    assert reasons["trades: non-finite value"] == 2
    assert reasons["trades: non-positive price or size"] == 2
    assert reasons["trades: side is not +1/-1"] == 1
    assert reasons["trades: symbol not in the universe"] == 1
    assert reasons["book: crossed or locked top of book"] == 1
    assert not snap.valid[0, F["close"]] and np.isfinite(snap.fields).all()


def test_events_with_mismatched_columns_raise_a_clear_error():
    with pytest.raises(EventError, match="rows, expected 2"):
        MarkPrice.of("binance", ["A", "B"], [T, T], [1.0, 2.0, 3.0], [1.0, 2.0], T)
    with pytest.raises(EventError, match="kind must be one of"):
        PositioningRatio.of("binance", "BTCUSDT", T, "whales", 1.0, T)


def test_tick_timing_puts_a_tick_in_the_bar_of_its_start(config):
    bar_index, progress, clock = tick_timing(config, T + 60)  # the tick (T+50, T+60]
    assert list(bar_index) == [int(T // 60), int(T // 300), int(T // 3600)]
    assert progress[0] == pytest.approx(1.0) and progress[2] == pytest.approx(60 / 3600)
    assert clock.shape == (4,)


def test_layout_packs_one_buffer_and_keeps_large_bar_indices_exact(config):
    snap = empty_snapshot(config, T)._replace(bar_index=np.array([2**24 + 3, 2**30 + 1, 7], np.int32))
    snap.fields[:] = np.random.default_rng(0).normal(size=snap.fields.shape)
    snap.valid[::2] = True
    layout = SnapshotLayout(len(config.symbols), len(config.timeframes))
    buffer = layout.pack(snap)
    assert buffer.dtype == np.float32 and buffer.ndim == 1
    back = layout.unpack(buffer)
    np.testing.assert_array_equal(np.asarray(back.bar_index), snap.bar_index)
    np.testing.assert_array_equal(np.asarray(back.fields), snap.fields)
    np.testing.assert_array_equal(np.asarray(back.valid), snap.valid)


def test_backfilled_bars_fold_like_their_trades_and_bad_bars_are_refused(accumulator):
    accumulator.apply(Trades.of("binance", "BTCUSDT", T - 5, 100.0, 1.0, 1, T - 5))  # a live trade first
    accumulator.apply(
        Bars.of(
            "binance",
            ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
            [T, T, T],
            [101.0, 10.0, 5.0],
            [104.0, 11.0, 6.0],
            [99.0, 9.0, 4.0],
            [103.0, 10.5, 7.0],
            [8.0, 3.0, 1.0],
            [5.0, 1.0, 0.5],
            [40, 9, 2],
            [820.0, 31.0, 5.0],
            T,
        )
    )
    snap = accumulator.pack(T)
    btc, eth = 0, 1
    assert snap.fields[btc, F["open"]] == 100.0  # the tick's first price stays the open
    assert (snap.fields[btc, F["high"]], snap.fields[btc, F["low"]], snap.fields[btc, F["close"]]) == (
        104,
        99,
        103,
    )
    assert snap.fields[btc, F["volume"]] == 9.0 and snap.fields[btc, F["buy_volume"]] == 6.0
    assert snap.fields[btc, F["sell_volume"]] == 3.0 and snap.fields[btc, F["trade_count"]] == 41
    assert snap.fields[eth, F["turnover"]] == 31.0 and snap.fields[eth, F["open"]] == 10.0
    assert not snap.valid[eth, F["large_buy_notional"]]  # a bar cannot tell: masked, not zero
    assert accumulator.rejected["bars: high/low do not bracket open/close"] == 1  # SOL closes above its high
    assert not snap.valid[2, F["close"]]


def test_trades_after_a_time_keep_only_later_rows():
    trades = Trades.of("binance", ("BTCUSDT", "ETHUSDT", "BTCUSDT"), [T - 2, T, T + 1], [1.0, 2.0, 3.0],
                       [1.0, 1.0, 1.0], [1, -1, 1], T + 1)  # fmt: skip
    later = trades.after(T)
    assert later.symbol == ("BTCUSDT",) and list(later.price) == [3.0] and later.recv_ts == T + 1
    assert trades.after(T + 1) is None


def test_ohlcv_only_bars_and_an_index_without_a_mark_leave_the_unknown_masked(accumulator):
    """Imported history: a bar whose taker split, count and turnover are NaN ("not in this source")
    sets OHLC and volume only; a mark event whose mark is NaN sets the index only; a row with
    neither mark nor index is dropped and counted."""
    nan = np.nan
    accumulator.apply(
        Bars.of("binance", ("BTCUSDT", "ETHUSDT"), [T, T], [10.0, 5.0], [12.0, 6.0], [9.0, 4.0], [11.0, 5.5],
                [3.0, 2.0], [nan, 1.5], [nan, nan], [nan, 11.0], T)
    )  # fmt: skip
    accumulator.apply(MarkPrice.of("binance", ("BTCUSDT", "ETHUSDT"), [T, T], [nan, nan], [10.9, nan], T))
    snap = accumulator.pack(T)
    btc, eth = snap.valid[0], snap.valid[1]
    assert snap.fields[0, F["close"]] == 11.0 and btc[F["volume"]] and snap.fields[0, F["volume"]] == 3.0
    assert not btc[F["buy_volume"]] and not btc[F["sell_volume"]] and not btc[F["trade_count"]]
    assert not btc[F["turnover"]]
    assert eth[F["buy_volume"]] and snap.fields[1, F["sell_volume"]] == 0.5 and eth[F["turnover"]]
    assert not eth[F["trade_count"]]
    assert btc[F["index"]] and snap.fields[0, F["index"]] == np.float32(10.9) and not btc[F["mark"]]
    assert accumulator.rejected["mark: non-finite or non-positive price"] == 1 and not eth[F["index"]]
