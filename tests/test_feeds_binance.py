"""The Binance adapter on the venue's documented messages and on a real WebSocket capture."""

from __future__ import annotations

import bisect
import gzip
import json
import os

import numpy as np
import pytest

from bpjax.core.defines import LONG_LIQUIDATED, RATIO_TAKER, RATIO_TOP_POSITIONS, SHORT_LIQUIDATED
from bpjax.feeds.binance import BinanceAdapter, parse_klines
from bpjax.ingest.events import Funding, Liquidations, MarkPrice, OpenInterest, PositioningRatio, Trades

RECV = 1_700_000_000.0


def lines(shared, name):
    with open(os.path.join(shared, "feeds", "examples", name)) as f:
        return [line for line in f.read().splitlines() if line.strip()]


def test_agg_trade_sides_and_values(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    first, second = lines(shared, "binance_aggTrade.jsonl")
    (event,) = adapter.on_frame(first, RECV)
    assert isinstance(event, Trades) and event.symbol == ("BTCUSDT",)
    payload = json.loads(first)
    assert event.price[0] == float(payload["p"]) and event.qty[0] == float(payload["q"])
    assert event.side[0] == (-1 if payload["m"] else 1)  # m: buyer is maker -> taker sold
    assert event.ts[0] == payload["T"] / 1000 and event.recv_ts == RECV
    adapter.on_frame(second, RECV)  # the older doc example: same id, counted as out of order
    assert adapter.health["trades"].messages == 2


def test_mark_price_gives_mark_index_and_funding(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    for line in lines(shared, "binance_markPrice.jsonl"):
        mark, funding = adapter.on_frame(line, RECV)
        payload = json.loads(line)
        assert isinstance(mark, MarkPrice) and isinstance(funding, Funding)
        assert mark.mark[0] == float(payload["p"]) and mark.index[0] == float(payload["i"])
        assert funding.predicted_rate[0] == float(payload["r"])
        assert funding.next_funding_ts[0] == payload["T"] / 1000
    # once a settled rate is known it is the current rate, the live r the predicted one
    adapter.on_funding_history(
        "BTCUSDT", json.loads(lines(shared, "binance_rest_fundingRate.jsonl")[0]), RECV
    )
    _, funding = adapter.on_frame(lines(shared, "binance_markPrice.jsonl")[0], RECV)
    assert funding.rate[0] == 0.0001 and funding.predicted_rate[0] == 0.00038167


def test_force_order_side_is_the_liquidated_position(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    events = [e for line in lines(shared, "binance_forceOrder.jsonl") for e in adapter.on_frame(line, RECV)]
    assert all(isinstance(e, Liquidations) for e in events) and len(events) == 2
    assert events[0].side[0] == LONG_LIQUIDATED  # S=SELL closes a long
    assert events[1].price[0] == 18990.0 and events[1].qty[0] == 0.009  # the average fill price
    buy = lines(shared, "binance_forceOrder.jsonl")[0].replace('"S":"SELL"', '"S":"BUY"')
    assert adapter.on_frame(buy, RECV)[0].side[0] == SHORT_LIQUIDATED


def test_combined_envelope_and_control_frames(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    book_ticker, mark = lines(shared, "binance_combined_stream.jsonl")
    assert adapter.on_frame(book_ticker, RECV) == []
    assert adapter.bbo["BTCUSDT"] == (33134.42, 0.17, 33139.39, 0.38)
    assert isinstance(adapter.on_frame(mark, RECV)[0], MarkPrice)
    for line in lines(shared, "binance_control.jsonl"):
        assert adapter.on_frame(line, RECV) == []
    assert adapter.health["other"].malformed == 1  # the error reply, counted with its reason
    assert any("Invalid request" in reason for reason in adapter.health["other"].reasons)


def test_rest_bodies(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    (oi,) = adapter.on_open_interest(json.loads(lines(shared, "binance_rest_openInterest.jsonl")[0]), RECV)
    assert isinstance(oi, OpenInterest) and oi.open_interest[0] == 10659.509 and oi.ts[0] == 1589437530.011
    for line in lines(shared, "binance_rest_topLongShortPositionRatio.jsonl"):
        (ratio,) = adapter.on_ratio(RATIO_TOP_POSITIONS, "BTCUSDT", json.loads(line), RECV)
        assert isinstance(ratio, PositioningRatio) and ratio.kind == RATIO_TOP_POSITIONS
        rows = sorted(json.loads(line), key=lambda r: int(r["timestamp"]))
        assert list(ratio.ratio) == [float(r["longShortRatio"]) for r in rows]
    # string timestamps (the docs) and integer ones (the live API) both parse, in time order
    bodies = [json.loads(line) for line in lines(shared, "binance_rest_takerlongshortRatio.jsonl")]
    (taker,) = adapter.on_ratio(RATIO_TAKER, "BTCUSDT", bodies[0], RECV)
    assert list(taker.ts) == [1583139900.0, 1585614900.0] and list(taker.ratio) == [1.3104, 1.5586]
    assert adapter.on_ratio(RATIO_TAKER, "BTCUSDT", bodies[1], RECV)[0].ts[0] == 1591261042.378
    klines = parse_klines(json.loads(lines(shared, "binance_rest_klines.jsonl")[1]))
    assert klines["open_time"][0] == 1616338800.0 and klines["close"][0] == 57300.0
    assert klines["taker_buy_volume"][0] == 273.108 and klines["trades"][0] == 7160


def test_bad_frames_are_counted_never_raised(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    good = lines(shared, "binance_aggTrade.jsonl")[0]
    frames = [
        "{not json",
        json.dumps({"e": "somethingNew", "s": "BTCUSDT"}),
        good.replace('"p":"0.001"', '"p":["0.001"]'),  # wrong type
        good.replace('"m":true', '"m":"yes"'),
        json.dumps({k: v for k, v in json.loads(good).items() if k != "q"}),  # missing field
        good.replace("BTCUSDT", "NOPEUSDT"),  # outside the universe
        "[1, 2]",
    ]
    for frame in frames:
        assert adapter.on_frame(frame, RECV) == []
    counts = {
        feed: (h.malformed, h.unknown) for feed, h in adapter.health.items() if h.malformed or h.unknown
    }
    assert counts == {"other": (3, 1), "trades": (3, 1)}


def test_trade_id_gaps_and_duplicates(shared):
    adapter = BinanceAdapter(["BTCUSDT"])
    base = json.loads(lines(shared, "binance_aggTrade.jsonl")[0])
    for trade_id in (10, 11, 11, 9, 14):
        adapter.on_frame(json.dumps(base | {"a": trade_id}), RECV)
    health = adapter.health["trades"]
    assert (health.gaps, health.out_of_order) == (1, 2)


def diff(first, final, previous, bids=(), asks=()):
    return json.dumps(
        {
            "e": "depthUpdate",
            "E": 1,
            "T": 1,
            "s": "BTCUSDT",
            "U": first,
            "u": final,
            "pu": previous,
            "b": [list(level) for level in bids],
            "a": [list(level) for level in asks],
        }
    )


def test_book_sync_gap_and_resync():
    adapter = BinanceAdapter(["BTCUSDT"])
    adapter.on_frame(diff(90, 95, 80, bids=[("99", "1")]), RECV)  # before the snapshot: dropped on load
    adapter.on_frame(diff(96, 105, 95, bids=[("100", "2")]), RECV)  # straddles lastUpdateId 100
    snapshot = {
        "lastUpdateId": 100,
        "E": 1,
        "T": 1,
        "bids": [["100", "1"], ["98", "3"]],
        "asks": [["101", "1"]],
    }
    assert adapter.on_depth_snapshot("BTCUSDT", snapshot, RECV)
    book = adapter.books["BTCUSDT"]
    assert book.synced and book.sequence == 105 and book.bids == {100.0: 2.0, 98.0: 3.0}
    adapter.on_frame(diff(106, 110, 105, asks=[("101", "0"), ("102", "5")]), RECV)
    assert book.asks == {102.0: 5.0}
    (event,) = adapter.flush_books(RECV)
    assert (
        event.bid_price[0, 0] == 100.0 and event.ask_price[0, 0] == 102.0 and adapter.flush_books(RECV) == []
    )
    adapter.on_frame(diff(115, 120, 112), RECV)  # pu != 110: a gap
    assert not book.synced and "BTCUSDT" in adapter.needs_snapshot and adapter.health["book"].gaps == 1
    assert adapter.flush_books(RECV) == []  # an unsynced book publishes nothing
    stale = {"lastUpdateId": 111, "bids": [["100", "1"]], "asks": [["101", "1"]]}
    assert not adapter.on_depth_snapshot("BTCUSDT", stale, RECV)  # older than the buffered diff's U
    fresh = {"lastUpdateId": 118, "bids": [["100", "1"]], "asks": [["101", "1"]]}
    assert adapter.on_depth_snapshot("BTCUSDT", fresh, RECV) and book.sequence == 120


def test_band_levels_keep_band_notionals():
    adapter = BinanceAdapter(["BTCUSDT"])
    bids = [["100.00", "1"], ["99.95", "2"], ["99.80", "3"], ["99.00", "4"], ["90.00", "100"]]
    asks = [["100.02", "1"], ["100.50", "2"]]
    adapter.on_depth_snapshot("BTCUSDT", {"lastUpdateId": 1, "bids": bids, "asks": asks}, RECV)
    (event,) = adapter.flush_books(RECV)
    mid = 100.01
    for band_row, band in ((1, 10), (2, 50), (3, 200)):
        lower = {1: -1, 2: 10, 3: 50}[band_row]
        inside = [(float(p), float(q)) for p, q in bids[1:] if lower < (mid - float(p)) / mid * 1e4 <= band]
        notional = sum(p * q for p, q in inside)
        got = np.nan_to_num(event.bid_price[0, band_row] * event.bid_qty[0, band_row])
        assert got == pytest.approx(notional, rel=1e-12)
    assert event.bid_price[0, 0] == 100.0 and event.bid_qty[0, 0] == 1.0


CAPTURES = ("btcusdt_2024-07-18T2357Z.jsonl.gz", "ethusdt_2024-07-18T2357Z.jsonl.gz")


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_rebuilds_the_book_behind_every_book_ticker(shared, name):
    """Frames in capture order through the adapter (the REST snapshot where it was taken). After
    each applied diff the book's best bid/ask (prices and sizes) equals the latest bookTicker at or
    before that update id: the two streams share Binance's update-id space."""
    path = os.path.join(shared, "data", "sample", "binance_um_ws_raw", name)
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    symbol = rows[0]["msg"]["data"]["s"] if rows[0]["kind"] == "ws" else "BTCUSDT"
    tickers = sorted(
        (r["msg"]["data"] for r in rows if r["kind"] == "ws" and r["msg"]["data"]["e"] == "bookTicker"),
        key=lambda d: d["u"],
    )
    ids = [t["u"] for t in tickers]
    adapter = BinanceAdapter([symbol], depth_speed="0ms")
    book = adapter.books[symbol]
    checked = 0
    for row in rows:
        recv = row["local_ts_ns"] / 1e9
        if row["kind"] == "rest_depth_snapshot":
            assert adapter.on_depth_snapshot(symbol, row["msg"], recv)
            continue
        adapter.on_frame(json.dumps(row["msg"]), recv)
        if row["msg"]["data"]["e"] != "depthUpdate" or not book.synced:
            continue
        k = bisect.bisect_right(ids, book.sequence) - 1
        if k < 0:
            continue
        t = tickers[k]
        assert book.best() == (float(t["b"]), float(t["B"]), float(t["a"]), float(t["A"])), book.sequence
        checked += 1
    depth_frames = sum(1 for r in rows if r["kind"] == "ws" and r["msg"]["data"]["e"] == "depthUpdate")
    assert checked > 0.95 * depth_frames and adapter.health["book"].gaps == 0
    assert adapter.health["trades"].messages > 900
