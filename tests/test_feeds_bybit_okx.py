"""The Bybit and OKX adapters on documented messages and on real captures."""

from __future__ import annotations

import bisect
import json
import os

from bpjax.core.defines import LONG_LIQUIDATED, SHORT_LIQUIDATED
from bpjax.feeds.base import band_levels
from bpjax.feeds.book import OrderBook
from bpjax.feeds.bybit import BybitAdapter
from bpjax.feeds.okx import OkxAdapter, checksum
from bpjax.ingest.events import Funding, Liquidations, MarkPrice, OpenInterest, Trades

RECV = 1_700_000_000.0


def lines(shared, name):
    with open(os.path.join(shared, "feeds", "examples", name)) as f:
        return [line for line in f.read().splitlines() if line.strip()]


def captured(shared, name):
    with open(os.path.join(shared, "data", "messages", name)) as f:
        return [json.loads(line) for line in f if line.strip()]


def events_of(adapter, frames):
    return [event for frame in frames for event in adapter.on_frame(frame, RECV)]


# --- Bybit ----------------------------------------------------------------------------------------
def test_bybit_trades_sides_and_repeats(shared):
    adapter = BybitAdapter(["BTCUSDT", "LTCUSDT"])
    first, second, _ = lines(shared, "bybit_publicTrade.jsonl")
    (trade,) = adapter.on_frame(first, RECV)
    assert isinstance(trade, Trades) and trade.symbol == ("BTCUSDT",)
    assert (trade.price[0], trade.qty[0], trade.side[0], trade.ts[0]) == (16578.5, 0.001, 1, 1672304486.865)
    assert adapter.on_frame(first, RECV) == []  # the same trade id again (a reconnect replay)
    assert adapter.health["trades"].out_of_order == 1
    assert adapter.on_frame(second, RECV)[0].symbol == ("LTCUSDT",)
    assert events_of(adapter, [lines(shared, "bybit_publicTrade.jsonl")[2]]) == []  # inverse BTCUSD
    assert adapter.health["trades"].unknown == 1


def test_bybit_liquidation_side_is_the_position(shared):
    adapter = BybitAdapter(["ROSEUSDT"])
    (event,) = adapter.on_frame(lines(shared, "bybit_allLiquidation.jsonl")[0], RECV)
    assert isinstance(event, Liquidations)
    assert (event.side[0], event.price[0], event.qty[0]) == (SHORT_LIQUIDATED, 0.04499, 20000.0)  # S=Sell
    buy = lines(shared, "bybit_allLiquidation.jsonl")[0].replace('"S":"Sell"', '"S":"Buy"')
    assert adapter.on_frame(buy, RECV)[0].side[0] == LONG_LIQUIDATED


def test_bybit_ticker_deltas_merge_into_the_snapshot(shared):
    adapter = BybitAdapter(["BTCUSDT"])
    frames = captured(shared, "bybit_v5_linear_tickers.2026-08-09.jsonl")
    btc = [r for r in frames if r["msg"]["topic"] == "tickers.BTCUSDT"]
    state = {}
    for record in btc:
        state.update(record["msg"]["data"]) if record["msg"]["type"] == "delta" else state.__init__(
            record["msg"]["data"]
        )
        events = adapter.on_frame(json.dumps(record["msg"]), record["recv_ts"])
    by_type = {type(e): e for e in events}
    assert by_type[MarkPrice].mark[0] == float(state["markPrice"])
    assert by_type[MarkPrice].index[0] == float(state["indexPrice"])
    assert by_type[Funding].rate[0] == float(state["fundingRate"])
    assert by_type[Funding].next_funding_ts[0] == int(state["nextFundingTime"]) / 1000
    assert by_type[OpenInterest].open_interest[0] == float(state["singleOpenInterest"])  # one side
    assert by_type[MarkPrice].recv_ts == btc[-1]["recv_ts"]


def test_bybit_capture_books_chain_and_agree_with_tickers(shared):
    """The orderbook.200 capture: every delta continues its book (no gap), the books never cross,
    and the best bid/ask after each frame equals the tickers' bid1/ask1 most of the time (the two
    topics are pushed on different 100 ms schedules, so they can disagree briefly)."""
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]
    adapter = BybitAdapter(symbols)
    tickers = {s: [] for s in symbols}
    for record in captured(shared, "bybit_v5_linear_tickers.2026-08-09.jsonl"):
        data = record["msg"]["data"]
        if "bid1Price" in data and "ask1Price" in data:
            tickers[data["symbol"]].append(
                (record["msg"]["cs"], float(data["bid1Price"]), float(data["ask1Price"]))
            )
    agree = total = 0
    for record in captured(shared, "bybit_v5_linear_orderbook200.2026-08-09.jsonl"):
        adapter.on_frame(json.dumps(record["msg"]), record["recv_ts"])
        symbol, book = record["msg"]["data"]["s"], adapter.books[record["msg"]["data"]["s"]]
        assert book.synced and not book.crossed()
        rows = tickers[symbol]
        k = bisect.bisect_right([cs for cs, _, _ in rows], record["msg"]["data"]["seq"]) - 1
        if k >= 0:
            bid, _, ask, _ = book.best()
            agree += (bid, ask) == rows[k][1:]
            total += 1
    assert adapter.health["book"].gaps == 0 and adapter.health["book"].messages == 1598
    assert total > 1000 and agree / total > 0.8, (agree, total)


def test_bybit_book_gap_asks_for_a_resubscription(shared):
    adapter = BybitAdapter(["BTCUSDT"])
    snapshot, delta = lines(shared, "bybit_orderbook.jsonl")[:2]
    adapter.on_frame(snapshot, RECV)
    adapter.on_frame(delta, RECV)
    assert adapter.books["BTCUSDT"].bids == {28552.0: 0.012} and not adapter.needs_resubscribe
    adapter.on_frame(delta, RECV)  # the same u again: ignored
    assert adapter.health["book"].gaps == 0
    adapter.on_frame(delta.replace("7003306", "7003309"), RECV)
    assert adapter.health["book"].gaps == 1 and "BTCUSDT" in adapter.needs_resubscribe
    assert not adapter.books["BTCUSDT"].synced and adapter.flush_books(RECV) == []
    adapter.on_frame(snapshot, RECV)  # the resubscription's snapshot
    assert adapter.books["BTCUSDT"].synced and not adapter.needs_resubscribe


def test_bybit_control_and_bad_frames(shared):
    adapter = BybitAdapter(["BTCUSDT"])
    for line in lines(shared, "bybit_control.jsonl"):
        assert adapter.on_frame(line, RECV) == []
    assert adapter.health["other"].malformed == 1  # the refused subscription
    good = lines(shared, "bybit_publicTrade.jsonl")[0]
    for frame in (
        "]]",
        good.replace('"S":"Buy"', '"S":"Up"'),
        good.replace('"p":"16578.50"', '"p":null'),
        json.dumps({"topic": "somethingNew.BTCUSDT", "data": []}),
    ):
        assert adapter.on_frame(frame, RECV) == []
    assert adapter.health["trades"].malformed == 2 and adapter.health["other"].unknown == 1


# --- OKX ------------------------------------------------------------------------------------------
def test_okx_checksum_matches_the_documented_vectors():
    for bids, asks, expected in (
        ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")], -1881014294),
        ([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")], 831078360),
    ):
        book, labels = OrderBook(), {}
        book.replace(bids, asks, 0, 0.0)
        labels.update({float(p): (p, q) for p, q in bids + asks})
        assert checksum(book, labels) == expected


def test_okx_capture_books_pass_every_checksum(shared):
    """290 real `books` frames of 2022 (snapshot + updates with checksums) on three instruments:
    the merged books must reproduce every checksum OKX sent."""
    instruments = {"BTC-USDT": "BTCUSDT", "BTC-USD-220527": "ETHUSDT", "UNI-USD-SWAP": "UNIUSDT"}
    adapter = OkxAdapter(list(instruments.values()), dict.fromkeys(instruments, 1.0), instruments)
    for record in captured(shared, "okx_v5_books.2022-05-13.jsonl"):
        adapter.on_frame(json.dumps(record["msg"]), record["recv_ts"])
    assert adapter.health["book"].messages == 290 and adapter.checksum_failures == 0
    assert all(book.synced for book in adapter.books.values())
    # a corrupted size breaks the next checksum: counted, and the book asks for a resync
    record = captured(shared, "okx_v5_books.2022-05-13.jsonl")[-1]
    row = record["msg"]["data"][0]
    side = "bids" if row["bids"] else "asks"
    row[side][0][1] = str(float(row[side][0][1]) + 1.0)
    adapter.on_frame(json.dumps(record["msg"]), RECV)
    assert adapter.checksum_failures == 1 and adapter.needs_snapshot


def test_okx_sequence_rules(shared):
    adapter = OkxAdapter(["BTCUSDT"], {"BTC-USDT-SWAP": 0.01})

    def frame(action, previous, sequence, bids=(), asks=()):
        row = {
            "asks": [list(a) for a in asks],
            "bids": [list(b) for b in bids],
            "ts": "1",
            "checksum": 0,
            "prevSeqId": previous,
            "seqId": sequence,
        }
        return json.dumps(
            {"arg": {"channel": "books", "instId": "BTC-USDT-SWAP"}, "action": action, "data": [row]}
        )

    adapter.on_frame(frame("snapshot", -1, 10, [("100", "5", "0", "1")], [("101", "3", "0", "1")]), RECV)
    for previous, sequence in ((10, 15), (15, 15), (15, 3), (3, 5)):  # the docs' chain: keep-alive, reset
        adapter.on_frame(frame("update", previous, sequence, [("99", "2", "0", "1")]), RECV)
    book = adapter.books["BTCUSDT"]
    assert adapter.health["book"].gaps == 0 and book.sequence == 5
    assert book.bids == {100.0: 0.05, 99.0: 0.02}  # contracts x ctVal
    adapter.on_frame(frame("update", 7, 9), RECV)
    assert adapter.health["book"].gaps == 1 and "BTCUSDT" in adapter.needs_snapshot
    adapter.on_frame(frame("update", 9, 12, asks=[("101", "0", "0", "0")]), RECV)  # buffered
    rest = {
        "code": "0",
        "data": [
            {"asks": [["101", "4", "0", "1"]], "bids": [["100", "1", "0", "1"]], "ts": "2", "seqId": 10}
        ],
    }
    assert adapter.on_rest_books("BTCUSDT", rest, RECV)
    assert book.sequence == 12 and book.asks == {} and book.bids == {100.0: 0.01}


def test_okx_trades_liquidations_funding_and_notice(shared):
    adapter = OkxAdapter(
        ["BTCUSDT", "IOSTUSDT", "WNCGUSDT"], {"BTC-USDT-SWAP": 0.01, "IOST-USDT-SWAP": 1000.0}
    )
    (trade,) = adapter.on_frame(lines(shared, "okx_trades.jsonl")[1], RECV)
    assert (trade.price[0], trade.qty[0], trade.side[0]) == (48938.5, 0.05, 1)  # 5 contracts x 0.01 BTC
    assert adapter.on_frame(lines(shared, "okx_trades.jsonl")[0], RECV) == []  # spot BTC-USDT
    (liquidation,) = adapter.on_frame(lines(shared, "okx_liquidation-orders.jsonl")[0], RECV)
    assert (liquidation.side[0], liquidation.price[0], liquidation.qty[0]) == (
        SHORT_LIQUIDATED,
        0.007831,
        13000.0,
    )
    assert adapter.on_frame(lines(shared, "okx_liquidation-orders.jsonl")[1], RECV) == []  # FUTURES
    (funding,) = adapter.on_frame(lines(shared, "okx_funding-rate.jsonl")[1], RECV)
    assert funding.rate[0] == 0.00048105 and funding.next_funding_ts[0] == 1640131200.0
    (mark,) = adapter.on_frame(lines(shared, "okx_mark-price.jsonl")[1], RECV)
    assert mark.mark[0] == 2.1729
    (oi,) = adapter.on_frame(lines(shared, "okx_open-interest.jsonl")[0], RECV)
    assert oi.open_interest[0] == 22161.1301000000309
    # no contract value for WNCG: its trade is dropped and counted, never guessed
    wncg = lines(shared, "okx_trades.jsonl")[1].replace("BTC-USDT-SWAP", "WNCG-USDT-SWAP")
    assert adapter.on_frame(wncg, RECV) == [] and adapter.health["trades"].malformed == 1
    for line in lines(shared, "okx_control.jsonl"):
        if '"event"' in line:  # what the server sends (the others are our requests)
            adapter.on_frame(line, RECV)
    assert adapter.reconnect_requested and adapter.health["other"].malformed == 1
    assert adapter.on_frame("pong", RECV) == []


def test_okx_funding_row_without_rate_is_counted(shared):
    adapter = OkxAdapter(["SOSUSDT"])
    assert adapter.on_frame(lines(shared, "okx_funding-rate.jsonl")[2], RECV) == []
    assert adapter.health["funding"].malformed == 1


def test_band_levels_of_an_empty_side_are_nan():
    book = OrderBook()
    book.replace([("100", "1")], [], 1, 0.0)
    bids, asks = band_levels(book)
    assert bids[0, 0] == 100.0 and (asks != asks).all()
