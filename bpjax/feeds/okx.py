"""OKX v5 perpetual swaps: WebSocket frames and REST bodies to normalized events.

Channels on ``/ws/v5/public`` per instrument: ``trades``, ``books`` (400 levels, snapshot
then 100 ms updates), ``mark-price``, ``funding-rate``, ``open-interest``; and
``liquidation-orders`` once for the whole ``SWAP`` instrument type. Keepalive is the text
``ping`` (answered by the text ``pong``) when nothing arrived for 25 s.

Instruments: the engine's ``BTCUSDT`` is OKX's ``BTC-USDT-SWAP``. OKX sizes are contracts;
each is multiplied by the instrument's contract value (``ctVal`` of
``/api/v5/public/instruments``), and a row of an instrument whose contract value is unknown
is dropped and counted, never guessed. Open interest is ``oiCcy`` (coin units).

Sides: ``trades.side`` is the taker side; a liquidation's position is ``posSide``
(long/short) or, in net mode, the opposite of the order ``side`` (a sell closes a long).
``fundingRate`` is the rate of the current period (it settles at ``fundingTime``), the
live estimate for the coming settlement, so it is both the current and the predicted rate.

Books: ``seqId``/``prevSeqId`` chain every update to the previous one; a keep-alive
repeats the ``seqId``, a reset after maintenance has ``seqId`` < ``prevSeqId`` (accepted);
any other break is a gap and the book is resynchronized from the REST snapshot
(``/api/v5/market/books``), as it is when the venue sends no initial snapshot. The legacy
CRC32 ``checksum`` over the top 25 levels is verified when it is not 0 (it is fixed to 0
since 2026-06-23); a mismatch is counted as a gap and resyncs the book.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterable

from bpjax.core.defines import LONG_LIQUIDATED, OKX, SHORT_LIQUIDATED
from bpjax.feeds.base import Adapter, Malformed, levels, millis, number
from bpjax.feeds.book import OrderBook

CHECKSUM_LEVELS = 25
BUFFER_UPDATES = 1024


def okx_instrument(symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC-USDT-SWAP``."""
    if not symbol.endswith("USDT"):
        raise ValueError(f"{symbol!r} is not a USDT perpetual")
    return f"{symbol[:-4]}-USDT-SWAP"


def checksum(book: OrderBook, labels: dict[float, tuple[str, str]]) -> int:
    """OKX's legacy book checksum: CRC32 of ``bid1px:bid1sz:ask1px:ask1sz:...`` over the top 25
    levels (the longer side's extra levels appended alone), as a signed 32-bit integer."""
    bids = sorted(book.bids, reverse=True)[:CHECKSUM_LEVELS]
    asks = sorted(book.asks)[:CHECKSUM_LEVELS]
    parts: list[str] = []
    for k in range(max(len(bids), len(asks))):
        for side in (bids, asks):
            if k < len(side):
                parts.extend(labels[side[k]])
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


class OkxAdapter(Adapter):
    venue = OKX
    feeds = ("trades", "book", "mark", "funding", "open_interest", "liquidations", "other")
    handlers = {
        "trades": ("trades", "_on_trades"),
        "books": ("book", "_on_books"),
        "mark-price": ("mark", "_on_mark"),
        "funding-rate": ("funding", "_on_funding"),
        "open-interest": ("open_interest", "_on_open_interest"),
        "liquidation-orders": ("liquidations", "_on_liquidations"),
    }

    def __init__(
        self,
        symbols: Iterable[str],
        contract_values: dict[str, float] | None = None,
        instruments: dict[str, str] | None = None,
    ):
        """``instruments`` maps OKX instrument ids to engine symbols (default: the
        ``-USDT-SWAP`` of every symbol); ``contract_values`` maps instrument ids to ``ctVal``."""
        super().__init__(symbols)
        self.instruments = instruments or {okx_instrument(s): s for s in self.symbols}
        self.instrument_of = {symbol: instrument for instrument, symbol in self.instruments.items()}
        self.contract_values = dict(contract_values or {})
        self.labels: dict[str, tuple[dict, dict]] = {s: ({}, {}) for s in self.symbols}
        self.pending: dict[str, deque] = {s: deque(maxlen=BUFFER_UPDATES) for s in self.symbols}
        self.needs_snapshot: set[str] = set()
        self.reconnect_requested = False
        self.checksum_failures = 0

    def subscriptions(self) -> list[dict[str, str]]:
        channels = ("trades", "books", "mark-price", "funding-rate", "open-interest")
        args = [{"channel": c, "instId": i} for i in self.instruments for c in channels]
        return args + [{"channel": "liquidation-orders", "instType": "SWAP"}]

    def on_instruments(self, body: object) -> None:
        """``/api/v5/public/instruments?instType=SWAP``: learn every contract value."""
        try:
            for row in body["data"]:  # type: ignore[index]
                self.contract_values[row["instId"]] = number(row["ctVal"], "ctVal")
        except (Malformed, KeyError, TypeError) as error:
            self.bad("other", "malformed", f"instruments: {error}")

    # --- frames ---------------------------------------------------------------------------------
    def feed(self, frame: str | bytes, recv_ts: float) -> None:
        self.now = recv_ts
        if frame in ("pong", b"pong"):
            self.count("other", recv_ts)
            return
        message = self.decode(frame)
        if message is None:
            return
        if not isinstance(message, dict):
            self.bad("other", "malformed", f"frame is a {type(message).__name__}, expected an object")
            return
        if "event" in message:
            return self._on_event(message, recv_ts)
        try:
            channel = message["arg"]["channel"]
            rows = message["data"]
            if not isinstance(rows, list):
                raise TypeError("data is not a list")
        except (KeyError, TypeError) as error:
            self.bad("other", "malformed", f"frame without arg.channel/data ({error!r})")
            return
        handler = self.handler(channel, "channel")
        if handler is None:
            return
        feed, function = handler
        self.count(feed, recv_ts)
        for row in rows:
            if isinstance(row, dict):
                self.guarded(feed, channel, function, row, message, recv_ts)
            else:
                self.bad(feed, "malformed", f"{channel}: row is a {type(row).__name__}")

    def _on_event(self, message: dict, recv_ts: float) -> None:
        event = message["event"]
        if event in ("subscribe", "unsubscribe"):
            self.count("other", recv_ts)
        elif event == "notice" and str(message.get("code")) == "64008":
            self.count("other", recv_ts)
            self.reconnect_requested = True  # maintenance in ~60 s: reconnect now, on our terms
        elif event == "error":
            self.bad("other", "malformed", f"venue error {message.get('code')}: {message.get('msg')}")
        else:
            self.bad("other", "unknown", f"event {event!r}")

    def _symbol(self, row: dict, message: dict, feed: str) -> str | None:
        instrument = row.get("instId") or message["arg"].get("instId")
        symbol = self.instruments.get(instrument)
        if symbol is None:
            self.bad(feed, "unknown", f"instrument {instrument!r} outside the universe")
        else:
            self.saw(symbol)
        return symbol

    def _contracts(self, instrument: str, feed: str) -> float | None:
        value = self.contract_values.get(instrument)
        if value is None:
            self.bad(feed, "malformed", f"no contract value for {instrument!r}")
        return value

    def _on_trades(self, row: dict, message: dict, recv_ts: float) -> None:
        symbol = self._symbol(row, message, "trades")
        value = self._contracts(row["instId"], "trades") if symbol else None
        if symbol is None or value is None:
            return
        side = {"buy": 1, "sell": -1}.get(row["side"])
        if side is None:
            raise Malformed(f"side is {row['side']!r}, expected buy or sell")
        qty = number(row["sz"], "sz") * value
        self.trade(symbol, millis(row["ts"], "ts"), number(row["px"], "px"), qty, side)

    def _on_mark(self, row: dict, message: dict, recv_ts: float) -> None:
        symbol = self._symbol(row, message, "mark")
        if symbol is None:
            return
        mark = number(row["markPx"], "markPx")
        self.mark(symbol, millis(row["ts"], "ts"), mark, float("nan"))

    def _on_funding(self, row: dict, message: dict, recv_ts: float) -> None:
        symbol = self._symbol(row, message, "funding")
        if symbol is None:
            return
        if row.get("fundingRate", "") == "":
            raise Malformed("no fundingRate")
        rate = number(row["fundingRate"], "fundingRate")
        ts = millis(row.get("ts", row["fundingTime"]), "ts")
        settles = millis(row["fundingTime"], "fundingTime")
        self.funding(symbol, ts, rate, rate, settles)

    def _on_open_interest(self, row: dict, message: dict, recv_ts: float) -> None:
        symbol = self._symbol(row, message, "open_interest")
        if symbol is None:
            return
        self.interest(symbol, millis(row["ts"], "ts"), number(row["oiCcy"], "oiCcy"))

    def _on_liquidations(self, row: dict, message: dict, recv_ts: float) -> None:
        if row.get("instType", "SWAP") != "SWAP":
            return
        symbol = self.instruments.get(row["instId"])
        if symbol is None:
            return  # one subscription carries every swap: other instruments are not errors
        value = self._contracts(row["instId"], "liquidations")
        if value is None:
            return
        ts, side, price, qty = [], [], [], []
        for detail in row["details"]:
            position = detail.get("posSide", "net")
            if position == "net":
                position = {"sell": "long", "buy": "short"}.get(detail["side"])
            sign = {"long": LONG_LIQUIDATED, "short": SHORT_LIQUIDATED}.get(position)
            if sign is None:
                raise Malformed(f"posSide/side {detail.get('posSide')!r}/{detail.get('side')!r}")
            ts.append(millis(detail["ts"], "details.ts"))
            side.append(sign)
            price.append(number(detail["bkPx"], "bkPx"))
            qty.append(number(detail["sz"], "sz") * value)
        for row_ts, sign, px, size in zip(ts, side, price, qty, strict=True):
            self.liquidation(symbol, row_ts, sign, px, size)

    # --- books ----------------------------------------------------------------------------------
    def _on_books(self, row: dict, message: dict, recv_ts: float) -> None:
        symbol = self._symbol(row, message, "book")
        if symbol is None:
            return
        instrument = message["arg"]["instId"]
        update = (
            message.get("action", "update"),
            int(row.get("prevSeqId", -1)),
            int(row.get("seqId", -1)),
            levels(row["bids"], "bids"),
            levels(row["asks"], "asks"),
            millis(row["ts"], "ts"),
            int(row.get("checksum", 0)),
        )
        if update[0] == "snapshot":
            self._load(symbol, instrument, update)
        elif self.books[symbol].synced:
            self._apply(symbol, instrument, update)
        else:
            self.pending[symbol].append(update)
            self.needs_snapshot.add(symbol)

    def _levels(self, symbol: str, instrument: str, side: int, rows: list) -> list[tuple[float, float]]:
        value = self.contract_values.get(instrument, 1.0)
        labels = self.labels[symbol][side]
        out = []
        for level in rows:
            price, size = float(level[0]), float(level[1])
            if size > 0:
                labels[price] = (level[0], level[1])
            else:
                labels.pop(price, None)
            out.append((price, size * value))
        return out

    def _load(self, symbol: str, instrument: str, update: tuple, rest: bool = False) -> None:
        """A full book: the WS snapshot (updates chain on its seqId) or a REST one (``rest``: the
        first update straddles it)."""
        _, _, sequence, bids, asks, ts, expected = update
        if self.contract_values.get(instrument) is None:
            self._contracts(instrument, "book")
            return
        for labels in self.labels[symbol]:
            labels.clear()
        book = self.books[symbol]
        if book.synced:
            self.health["book"].resyncs += 1
        book.replace(
            self._levels(symbol, instrument, 0, bids), self._levels(symbol, instrument, 1, asks), sequence, ts
        )
        book.chained = not rest
        self.needs_snapshot.discard(symbol)
        self.touched(symbol)
        self._verify(symbol, expected)

    def _apply(self, symbol: str, instrument: str, update: tuple) -> bool:
        _, previous, sequence, bids, asks, ts, expected = update
        book, health = self.books[symbol], self.health["book"]
        if book.chained or previous < 0:
            broken = previous >= 0 and previous != book.sequence and not sequence < previous  # not a reset
        else:  # the first update on a REST snapshot straddles it
            broken = not previous <= book.sequence < sequence
        if broken:
            health.gaps += 1
            self.resync(symbol)
            self.pending[symbol].append(update)
            return False
        book.apply(
            self._levels(symbol, instrument, 0, bids), self._levels(symbol, instrument, 1, asks), sequence, ts
        )
        book.chained = True
        self.touched(symbol)
        return self._verify(symbol, expected)

    def _verify(self, symbol: str, expected: int) -> bool:
        if expected == 0:
            return True  # deprecated since 2026-06-23: always 0
        if checksum(self.books[symbol], {**self.labels[symbol][0], **self.labels[symbol][1]}) == expected:
            return True
        self.checksum_failures += 1
        self.health["book"].gaps += 1
        self.resync(symbol)
        return False

    def resync(self, symbol: str) -> None:
        self.books[symbol].clear()
        for labels in self.labels[symbol]:
            labels.clear()
        self.pending[symbol].clear()
        self.needs_snapshot.add(symbol)

    def on_rest_books(self, symbol: str, body: object, recv_ts: float) -> bool:
        """``/api/v5/market/books``: bootstrap or resync a book, then replay buffered updates (OKX's
        procedure: drop those with ``seqId`` <= the snapshot's; the first applied must satisfy
        ``prevSeqId`` <= snapshot ``seqId`` < ``seqId``). False: fetch again."""
        instrument = self.instrument_of[symbol]
        try:
            row = body["data"][0]  # type: ignore[index]
            snapshot = (
                "snapshot",
                -1,
                int(row["seqId"]),
                levels(row["bids"], "bids"),
                levels(row["asks"], "asks"),
                millis(row["ts"], "ts"),
                0,
            )
        except (Malformed, KeyError, TypeError, IndexError, ValueError) as error:
            self.bad("book", "malformed", f"REST books: {error}")
            return False
        pending = [u for u in self.pending[symbol] if u[2] > snapshot[2]]
        self.pending[symbol].clear()
        if pending and pending[0][1] > snapshot[2]:  # the snapshot is older than the buffer
            self.pending[symbol].extend(pending)
            self.needs_snapshot.add(symbol)
            return False
        self._load(symbol, instrument, snapshot, rest=True)
        self.health["book"].resyncs += 1
        for update in pending:
            if not self._apply(symbol, instrument, update):
                return False
        return self.books[symbol].synced
