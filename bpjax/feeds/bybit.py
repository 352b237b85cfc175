"""Bybit v5 linear perpetuals: WebSocket frames to normalized events.

Topics per symbol on ``/v5/public/linear``: ``publicTrade.{s}``, ``orderbook.{depth}.{s}``,
``tickers.{s}`` (mark, index, funding, next funding time, open interest) and
``allLiquidation.{s}``. Keepalive is the JSON ``{"op": "ping"}`` every 20 s, answered
with ``ret_msg`` "pong".

Normalization: publicTrade ``S`` is the taker side; allLiquidation ``S`` is the side of
the liquidated *position* (Buy: a long was closed); sizes are base units. Tickers send a
snapshot then deltas in which a missing field is unchanged, so the adapter merges them and
publishes the merged state. Open interest is ``singleOpenInterest`` (one side, comparable
with Binance and OKX) when Bybit sends it, else ``openInterest``. ``fundingRate`` is the
live rate for the coming settlement, so it is both the current and the predicted rate.

Book rules: a snapshot replaces the book (Bybit re-sends snapshots on its own problems;
``u`` = 1 means its service restarted); a delta must carry ``u`` = previous ``u`` + 1, a
repeat of the same ``u`` is ignored, anything else is a gap: the book is dropped and the
topic must be resubscribed (:attr:`BybitAdapter.needs_resubscribe`) for a fresh snapshot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bpjax.core.defines import BYBIT, LONG_LIQUIDATED, SHORT_LIQUIDATED
from bpjax.feeds.base import Adapter, Malformed, levels, millis, number, optional_number

SEEN_TRADES = 2048  # trade ids remembered per symbol to drop repeats after a reconnect


class BybitAdapter(Adapter):
    venue = BYBIT
    feeds = ("trades", "book", "tickers", "liquidations", "other")
    handlers = {
        "publicTrade": ("trades", "_on_trades"),
        "orderbook": ("book", "_on_book"),
        "tickers": ("tickers", "_on_ticker"),
        "allLiquidation": ("liquidations", "_on_liquidations"),
    }

    def __init__(self, symbols: Iterable[str], depth: int = 200):
        super().__init__(symbols)
        self.depth = depth
        self.known = set(self.symbols)
        self.tickers: dict[str, dict] = {}
        self.needs_resubscribe: set[str] = set()
        self.resyncing: set[str] = set()  # books waiting for the snapshot a resubscription brings
        self.seen: dict[str, tuple[deque, set]] = {s: (deque(), set()) for s in self.symbols}

    def topics(self) -> list[str]:
        kinds = ("publicTrade", f"orderbook.{self.depth}", "tickers", "allLiquidation")
        return [f"{kind}.{s}" for s in self.symbols for kind in kinds]

    def feed(self, frame: str | bytes, recv_ts: float) -> None:
        self.now = recv_ts
        message = self.decode(frame)
        if message is None:
            return
        if not isinstance(message, dict):
            self.bad("other", "malformed", f"frame is a {type(message).__name__}, expected an object")
            return
        topic = message.get("topic")
        if topic is None:
            if "op" in message and message.get("success", True) is True:  # acks and pongs
                self.count("other", recv_ts)
            elif "op" in message:
                self.bad("other", "malformed", f"venue refused {message.get('op')}: {message.get('ret_msg')}")
            else:
                self.bad("other", "unknown", "frame without a topic")
            return
        if not isinstance(topic, str):
            self.bad("other", "malformed", f"topic is {topic!r}")
            return
        kind, _, symbol = topic.rpartition(".")
        kind = kind.split(".")[0]
        handler = self.handler(kind, "topic")
        if handler is None:
            return
        feed, function = handler
        if symbol not in self.known:
            self.bad(feed, "unknown", f"symbol {symbol!r} outside the universe")
            return
        self.count(feed, recv_ts)
        self.saw(symbol)
        self.guarded(feed, kind, function, symbol, message, recv_ts)

    def _on_trades(self, symbol: str, message: dict, recv_ts: float) -> None:
        order, seen = self.seen[symbol]
        for row in message["data"]:
            trade_id = row["i"]
            if trade_id in seen:
                self.health["trades"].out_of_order += 1
                continue
            sign = {"Buy": 1, "Sell": -1}.get(row["S"])
            if sign is None:
                raise Malformed(f"S is {row['S']!r}, expected Buy or Sell")
            self.trade(symbol, millis(row["T"], "T"), number(row["p"], "p"), number(row["v"], "v"), sign)
            order.append(trade_id)
            seen.add(trade_id)
            if len(order) > SEEN_TRADES:
                seen.discard(order.popleft())

    def _on_book(self, symbol: str, message: dict, recv_ts: float) -> None:
        data, book, health = message["data"], self.books[symbol], self.health["book"]
        update = int(data["u"])
        bids, asks = levels(data["b"], "b"), levels(data["a"], "a")
        ts = millis(message.get("cts", message["ts"]), "cts")
        if message["type"] == "snapshot":
            if book.synced or symbol in self.resyncing:  # a replacement, or the book after a gap
                health.resyncs += 1
                self.resyncing.discard(symbol)
            book.replace(bids, asks, update, ts)
            self.needs_resubscribe.discard(symbol)
        elif message["type"] == "delta":
            if not book.synced:
                return  # waiting for the snapshot a resubscription brings
            if update == book.sequence:
                return  # a repeat
            if update != book.sequence + 1:
                health.gaps += 1
                book.clear()
                self.needs_resubscribe.add(symbol)
                self.resyncing.add(symbol)
                return
            book.apply(bids, asks, update, ts)
        else:
            raise Malformed(f"type is {message['type']!r}, expected snapshot or delta")
        self.touched(symbol)

    def _on_ticker(self, symbol: str, message: dict, recv_ts: float) -> None:
        data = message["data"]
        if not isinstance(data, dict):
            raise Malformed("tickers data is not an object")
        if message["type"] == "snapshot":
            self.tickers[symbol] = dict(data)
        elif symbol in self.tickers:
            self.tickers[symbol].update(data)
        else:
            return  # a delta before any snapshot has nothing to merge into
        state = self.tickers[symbol]
        ts = millis(message["ts"], "ts")
        if state.get("markPrice", "") != "":
            mark = number(state["markPrice"], "markPrice")
            self.mark(symbol, ts, mark, optional_number(state.get("indexPrice"), "indexPrice"))
        if state.get("fundingRate", "") != "":
            rate = number(state["fundingRate"], "fundingRate")
            next_ts = (
                millis(state["nextFundingTime"], "nextFundingTime")
                if state.get("nextFundingTime")
                else float("nan")
            )
            self.funding(symbol, ts, rate, rate, next_ts)
        key = "singleOpenInterest" if state.get("singleOpenInterest", "") != "" else "openInterest"
        if state.get(key, "") != "":
            self.interest(symbol, ts, number(state[key], key))

    def _on_liquidations(self, symbol: str, message: dict, recv_ts: float) -> None:
        rows = []
        for row in message["data"]:
            position = {"Buy": LONG_LIQUIDATED, "Sell": SHORT_LIQUIDATED}.get(row["S"])
            if position is None:
                raise Malformed(f"S is {row['S']!r}, expected Buy or Sell")
            rows.append((millis(row["T"], "T"), position, number(row["p"], "p"), number(row["v"], "v")))
        for ts, position, price, qty in rows:  # all rows valid: none half-applied
            self.liquidation(symbol, ts, position, price, qty)
