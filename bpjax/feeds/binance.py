"""Binance USD-M futures: WebSocket frames and REST bodies to normalized events.

Streams, routed by entry point since Binance's 2026 split:

    /public   <sym>@depth@100ms (diff book), <sym>@bookTicker (best bid/ask)
    /market   <sym>@aggTrade, <sym>@markPrice@1s (mark, index, funding), <sym>@forceOrder

REST: /fapi/v1/depth (book snapshot), /fapi/v1/openInterest, /fapi/v1/fundingRate (settled
rates), /fapi/v1/klines (history backfill), /futures/data/{topLongShortPositionRatio,
topLongShortAccountRatio, globalLongShortAccountRatio, takerlongshortRatio} (positioning,
REST only).

Normalization: aggTrade/trade ``m`` true means the buyer was the maker, so the taker sold;
forceOrder ``o.S`` is the liquidation *order* side, SELL closing a long; the live ``r`` of
markPrice is the rate estimated for the next settlement (the predicted rate), the last
settled rate comes from /fapi/v1/fundingRate (until it is known, ``r`` stands for both).
Engine symbols are Binance's own (``BTCUSDT``); stream names use lower case. Frames of
the other universe after Binance's COIN-M merge (``st`` != 1) are ignored.

Book sync (Binance's "manage a local order book"): diffs are buffered until a REST
snapshot arrives; diffs with ``u`` < ``lastUpdateId`` are dropped; the first applied
must satisfy ``U <= lastUpdateId <= u`` (or continue the snapshot exactly, ``pu`` =
``lastUpdateId``, when the snapshot was taken between two diffs); every later one must
have ``pu`` equal to the previous ``u``. A break marks the book unsynced and asks for a new snapshot
(:attr:`BinanceAdapter.needs_snapshot`), keeping the socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from bpjax.core.defines import (
    BINANCE,
    LONG_LIQUIDATED,
    RATIO_GLOBAL_ACCOUNTS,
    RATIO_TAKER,
    RATIO_TOP_ACCOUNTS,
    RATIO_TOP_POSITIONS,
    SHORT_LIQUIDATED,
)
from bpjax.feeds.base import Adapter, Malformed, levels, millis, number
from bpjax.ingest.events import Event, OpenInterest, PositioningRatio

# REST paths of the positioning ratios, by the engine's ratio kind
RATIO_PATHS = {
    RATIO_TOP_POSITIONS: "/futures/data/topLongShortPositionRatio",
    RATIO_TOP_ACCOUNTS: "/futures/data/topLongShortAccountRatio",
    RATIO_GLOBAL_ACCOUNTS: "/futures/data/globalLongShortAccountRatio",
    RATIO_TAKER: "/futures/data/takerlongshortRatio",
}
BUFFER_DIFFS = 4096  # diffs kept per symbol while waiting for a snapshot


class BinanceAdapter(Adapter):
    venue = BINANCE
    feeds = ("trades", "book", "bbo", "mark", "liquidations", "open_interest", "positioning", "other")
    handlers = {
        "aggTrade": ("trades", "_on_aggTrade"),
        "trade": ("trades", "_on_trade"),
        "depthUpdate": ("book", "_on_depthUpdate"),
        "bookTicker": ("bbo", "_on_bookTicker"),
        "markPriceUpdate": ("mark", "_on_markPriceUpdate"),
        "forceOrder": ("liquidations", "_on_forceOrder"),
    }

    def __init__(self, symbols: Iterable[str], depth_speed: str = "100ms"):
        super().__init__(symbols)
        self.depth_speed = depth_speed
        self.known = set(self.symbols)
        self.needs_snapshot: set[str] = set(self.symbols)
        self.pending: dict[str, deque] = {s: deque(maxlen=BUFFER_DIFFS) for s in self.symbols}
        self.last_trade_id: dict[str, int] = {}
        self.last_bbo_id: dict[str, int] = {}
        self.bbo: dict[str, tuple[float, float, float, float]] = {}
        self.settled_rate: dict[str, float] = {}

    # --- subscriptions --------------------------------------------------------------------------
    def streams(self) -> dict[str, list[str]]:
        """Stream names per entry point (``public``, ``market``)."""
        lower = [s.lower() for s in self.symbols]
        return {
            "public": [f"{s}@depth@{self.depth_speed}" for s in lower] + [f"{s}@bookTicker" for s in lower],
            "market": [f"{s}@{kind}" for s in lower for kind in ("aggTrade", "markPrice@1s", "forceOrder")],
        }

    # --- WebSocket frames -----------------------------------------------------------------------
    def feed(self, frame: str | bytes, recv_ts: float) -> None:
        """One WebSocket text frame (raw or combined-stream envelope)."""
        self.now = recv_ts
        message = self.decode(frame)
        if message is None:
            return
        if isinstance(message, dict) and "data" in message and "stream" in message:
            message = message["data"]
        if isinstance(message, list):  # all-market arrays (!forceOrder@arr, !markPrice@arr)
            for item in message:
                self.on_payload(item, recv_ts)
            return
        self.on_payload(message, recv_ts)

    def on_payload(self, payload: object, recv_ts: float) -> None:
        if not isinstance(payload, dict):
            self.bad("other", "malformed", f"payload is a {type(payload).__name__}, expected an object")
            return
        kind = payload.get("e")
        if kind is None:
            if "result" in payload or "id" in payload:  # SUBSCRIBE/LIST acknowledgements
                self.count("other", recv_ts)
            elif "code" in payload:
                self.bad("other", "malformed", f"venue error {payload.get('code')}: {payload.get('msg')}")
            else:
                self.bad("other", "unknown", "object without an event type")
            return
        handler = self.handler(kind, "event type")
        if handler is None or payload.get("st", 1) != 1:  # (st != 1: COIN-M rows after the merge)
            return
        self.guarded(handler[0], kind, handler[1], payload, recv_ts)

    def _symbol(self, payload: dict, feed: str, key: str = "s") -> str | None:
        symbol = payload[key]
        if symbol not in self.known:
            self.bad(feed, "unknown", f"symbol {symbol!r} outside the universe")
            return None
        self.saw(symbol)
        return symbol

    def _trade(self, payload: dict, recv_ts: float, trade_id: int) -> None:
        symbol = self._symbol(payload, "trades")
        if symbol is None:
            return
        health = self.count("trades", recv_ts)
        if not isinstance(payload["m"], bool):
            raise Malformed(f"m is {payload['m']!r}, expected true/false")
        previous = self.last_trade_id.get(symbol)
        if previous is not None:
            if trade_id <= previous:
                health.out_of_order += 1
                return
            if trade_id != previous + 1:
                health.gaps += 1
        price, qty, ts = number(payload["p"], "p"), number(payload["q"], "q"), millis(payload["T"], "T")
        self.last_trade_id[symbol] = trade_id
        self.trade(symbol, ts, price, qty, -1 if payload["m"] else 1)

    def _on_aggTrade(self, payload: dict, recv_ts: float) -> None:
        return self._trade(payload, recv_ts, int(payload["a"]))

    def _on_trade(self, payload: dict, recv_ts: float) -> None:
        if payload.get("X", "MARKET") != "MARKET":  # insurance-fund / ADL fills are not taker flow
            return
        return self._trade(payload, recv_ts, int(payload["t"]))

    def _on_markPriceUpdate(self, payload: dict, recv_ts: float) -> None:
        symbol = self._symbol(payload, "mark")
        if symbol is None:
            return
        self.count("mark", recv_ts)
        ts = millis(payload["E"], "E")
        mark, index = number(payload["p"], "p"), number(payload["i"], "i")
        self.mark(symbol, ts, mark, index)
        if payload.get("r", "") != "":
            predicted = number(payload["r"], "r")
            rate = self.settled_rate.get(symbol, predicted)
            self.funding(symbol, ts, rate, predicted, millis(payload["T"], "T"))

    def _on_forceOrder(self, payload: dict, recv_ts: float) -> None:
        order = payload["o"]
        if order.get("st", 1) != 1:
            return
        symbol = self._symbol(order, "liquidations")
        if symbol is None:
            return
        self.count("liquidations", recv_ts)
        side = {"SELL": LONG_LIQUIDATED, "BUY": SHORT_LIQUIDATED}.get(order["S"])
        if side is None:
            raise Malformed(f"o.S is {order['S']!r}, expected BUY or SELL")
        price = number(order.get("ap") or order["p"], "o.ap")
        if price <= 0:  # an unfilled order has ap "0": its limit price is the level
            price = number(order["p"], "o.p")
        qty = number(order.get("z") or order["q"], "o.z")
        if qty <= 0:
            qty = number(order["q"], "o.q")
        self.liquidation(symbol, millis(order["T"], "o.T"), side, price, qty)

    def _on_bookTicker(self, payload: dict, recv_ts: float) -> None:
        symbol = self._symbol(payload, "bbo")
        if symbol is None:
            return
        health = self.count("bbo", recv_ts)
        update = int(payload["u"])
        if update <= self.last_bbo_id.get(symbol, -1):
            health.out_of_order += 1
            return
        self.last_bbo_id[symbol] = update
        self.bbo[symbol] = (
            number(payload["b"], "b"),
            number(payload["B"], "B"),
            number(payload["a"], "a"),
            number(payload["A"], "A"),
        )

    # --- the book -------------------------------------------------------------------------------
    def _on_depthUpdate(self, payload: dict, recv_ts: float) -> None:
        symbol = self._symbol(payload, "book")
        if symbol is None:
            return
        self.count("book", recv_ts)
        diff = (
            int(payload["U"]),
            int(payload["u"]),
            int(payload["pu"]),
            levels(payload["b"], "b"),
            levels(payload["a"], "a"),
            millis(payload["E"], "E"),
        )
        book = self.books[symbol]
        if not book.synced:
            self.pending[symbol].append(diff)
            return
        self._apply_diff(symbol, diff)

    def _apply_diff(self, symbol: str, diff: tuple) -> bool:
        """Apply one diff to a synced book; False (and a resync request) when it breaks the chain."""
        first, final, previous, bids, asks, ts = diff
        book, health = self.books[symbol], self.health["book"]
        if final < book.sequence:
            health.out_of_order += 1
            return True
        # the first diff on a snapshot straddles its id, or continues it exactly (pu = lastUpdateId)
        chained = previous == book.sequence or (not book.chained and first <= book.sequence <= final)
        if not chained:
            health.gaps += 1
            self.resync(symbol)
            self.pending[symbol].append(diff)
            return False
        book.apply(bids, asks, final, ts)
        book.chained = True
        self.touched(symbol)
        return True

    def resync(self, symbol: str) -> None:
        """Drop the book and ask for a REST snapshot (the socket stays)."""
        self.books[symbol].clear()
        self.pending[symbol].clear()
        self.needs_snapshot.add(symbol)

    def on_depth_snapshot(self, symbol: str, body: object, recv_ts: float) -> bool:
        """Load a /fapi/v1/depth body and replay the buffered diffs; False if the snapshot is too old
        for the buffered diffs (fetch again)."""
        health = self.health["book"]
        try:
            if not isinstance(body, dict):
                raise Malformed("depth snapshot is not an object")
            last = int(body["lastUpdateId"])
            bids, asks = levels(body["bids"], "bids"), levels(body["asks"], "asks")
            ts = millis(body.get("T", body.get("E", 0)), "T")
            book = self.books[symbol]
            book.replace(bids, asks, last, ts)
        except (Malformed, KeyError, TypeError, ValueError) as error:
            self.bad("book", "malformed", f"depth snapshot: {error}")
            return False
        book.chained = False
        health.resyncs += 1
        pending = [diff for diff in self.pending[symbol] if diff[1] >= last]
        self.pending[symbol].clear()
        if pending and pending[0][0] > last:  # the snapshot predates every buffered diff
            self.resync(symbol)
            self.pending[symbol].extend(pending)
            return False
        self.needs_snapshot.discard(symbol)
        self.touched(symbol, recv_ts)
        return all(self._apply_diff(symbol, diff) for diff in pending)  # stops at a broken chain

    # --- REST -----------------------------------------------------------------------------------
    def on_open_interest(self, body: object, recv_ts: float) -> list[Event]:
        """/fapi/v1/openInterest: {"openInterest", "symbol", "time"}."""
        try:
            symbol = self._symbol(body, "open_interest", "symbol")  # type: ignore[arg-type]
            if symbol is None:
                return []
            self.count("open_interest", recv_ts)
            value = number(body["openInterest"], "openInterest")  # type: ignore[index]
            return [OpenInterest.of(BINANCE, symbol, millis(body["time"], "time"), value, recv_ts)]  # type: ignore[index]
        except (Malformed, KeyError, TypeError) as error:
            self.bad("open_interest", "malformed", f"openInterest: {error}")
            return []

    def on_ratio(self, kind: str, symbol: str, body: object, recv_ts: float) -> list[Event]:
        """A /futures/data ratio array (rows ascending in time); the latest row is the reading.
        Timestamps may be strings (documented) or integers (the live API)."""
        try:
            if not isinstance(body, list) or not body:
                raise Malformed("expected a non-empty array")
            rows = sorted(body, key=lambda row: int(row["timestamp"]))
            key = "buySellRatio" if kind == RATIO_TAKER else "longShortRatio"
            ts = np.array([millis(row["timestamp"], "timestamp") for row in rows])
            ratio = np.array([number(row[key], key) for row in rows])
        except (Malformed, KeyError, TypeError, ValueError) as error:
            self.bad("positioning", "malformed", f"{kind}: {error}")
            return []
        self.count("positioning", recv_ts)
        return [PositioningRatio.of(BINANCE, (symbol,) * len(rows), ts, kind, ratio, recv_ts)]

    def on_funding_history(self, symbol: str, body: object, recv_ts: float) -> list[tuple[float, float]]:
        """/fapi/v1/fundingRate: settled (time, rate) rows; the latest becomes the current rate."""
        try:
            if not isinstance(body, list):
                raise Malformed("expected an array")
            rows = sorted(
                (millis(row["fundingTime"], "fundingTime"), number(row["fundingRate"], "fundingRate"))
                for row in body
            )
        except (Malformed, KeyError, TypeError) as error:
            self.bad("mark", "malformed", f"fundingRate: {error}")
            return []
        if rows:
            self.settled_rate[symbol] = rows[-1][1]
        return rows


KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
)


def parse_klines(body: object) -> dict[str, np.ndarray]:
    """/fapi/v1/klines rows as float64 columns (times in Unix s); Malformed on a bad row."""
    if not isinstance(body, list):
        raise Malformed("klines: expected an array of arrays")
    try:
        table = np.array([[float(value) for value in row[:11]] for row in body], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as error:
        raise Malformed(f"klines: bad row ({error})") from None
    table = table.reshape(-1, 11)
    columns = {name: table[:, k] for k, name in enumerate(KLINE_COLUMNS)}
    columns["open_time"] = columns["open_time"] / 1000.0
    columns["close_time"] = columns["close_time"] / 1000.0
    return columns
