"""The wire-level exchange simulator: the embedded market, spoken in each venue's real protocol.

:class:`WireMarket` steps :class:`bpjax.sim.market.MarketSimulator` on the wall clock and turns its
events into the frames Binance, Bybit and OKX send (what the adapters of bpjax.feeds parse):
prices and sizes as decimal strings, millisecond timestamps, diff books with each venue's
sequence ids (Binance ``U``/``u``/``pu``, Bybit ``u``, OKX ``seqId``/``prevSeqId`` with checksum 0),
OKX sizes in
contracts. :class:`VenueServer` subclasses serve them on loopback with aiohttp: the
subscribe/ack/ping protocol of each venue's WebSocket and the REST endpoints the adapters
call. ``bpjax run`` (``--source wire-sim``) starts the three servers and points the venue
URLs of its config at them, so the engine receives its data through the real adapters.

Each server can be told to misbehave (tests and demos): drop every connection, fall
silent, corrupt frames, skip a book sequence id, or go down entirely.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from aiohttp import WSMsgType, web

from bpjax.core.config import Config
from bpjax.core.defines import (
    BINANCE,
    BYBIT,
    LONG_LIQUIDATED,
    OKX,
    RATIO_GLOBAL_ACCOUNTS,
    RATIO_TAKER,
    RATIO_TOP_ACCOUNTS,
    RATIO_TOP_POSITIONS,
    VENUES,
)
from bpjax.feeds.okx import okx_instrument
from bpjax.ingest.events import (
    BookLevels,
    Funding,
    Liquidations,
    MarkPrice,
    OpenInterest,
    PositioningRatio,
    Trades,
)
from bpjax.sim.market import MarketSimulator

log = logging.getLogger("bpjax.wiresim")

# OKX contract values of the simulated swaps: a few as on OKX, 1 coin elsewhere
CONTRACT_VALUES = {"BTCUSDT": 0.01, "ETHUSDT": 0.1, "SOLUSDT": 1.0, "DOGEUSDT": 1000.0, "1000PEPEUSDT": 10.0}
RATIO_NAMES = {
    RATIO_TOP_POSITIONS: "topLongShortPositionRatio",
    RATIO_TOP_ACCOUNTS: "topLongShortAccountRatio",
    RATIO_GLOBAL_ACCOUNTS: "globalLongShortAccountRatio",
    RATIO_TAKER: "takerlongshortRatio",
}


def decimal(x: float, digits: int = 8) -> str:
    """A venue-style decimal string: ``digits`` significant digits, never an exponent."""
    return np.format_float_positional(float(x), precision=digits, unique=False, fractional=False, trim="-")


def ms(t: float) -> int:
    return int(round(t * 1000.0))


def okx_levels(levels) -> list[list[str]]:
    """[price, size] pairs as OKX sends them: price, size, a deprecated "0", the order count."""
    return [[p, q, "0", "1"] for p, q in levels]


def binance_combined(stream: str, payload_text: str) -> str:
    """A payload in Binance's combined-stream envelope (``/stream?streams=...``)."""
    return f'{{"stream":"{stream}","data":{payload_text}}}'


@dataclass
class VenueBook:
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    sequence: int = 1000

    def diff(self, bids: dict[str, str], asks: dict[str, str]) -> tuple[list, list]:
        """Level changes from the current levels to new ones (qty "0" removes), then adopt them."""
        changes = []
        for old, new in ((self.bids, bids), (self.asks, asks)):
            side = [[p, q] for p, q in new.items() if old.get(p) != q]
            side += [[p, "0"] for p in old if p not in new]
            changes.append(side)
        self.bids, self.asks = bids, asks
        return changes[0], changes[1]


def _levels(prices: np.ndarray, qtys: np.ndarray) -> dict[str, str]:
    out: dict[str, float] = defaultdict(float)
    for p, q in zip(prices, qtys, strict=True):
        if np.isfinite(p) and np.isfinite(q) and q > 0:
            out[decimal(p)] += float(q)
    return {p: decimal(q, 6) for p, q in out.items()}


class WireMarket:
    """The simulated market as per-venue frames. Frames are ``(key, payload)``: the Binance stream
    name, the Bybit topic, or the OKX ``(channel, instId)``; payloads are JSON-ready objects."""

    def __init__(self, config: Config, seed: int | None = None):
        self.config = config
        self.symbols = config.symbols
        self.primary = config.universe.primary_venue
        self.sim = MarketSimulator(config, seed=seed)
        self.clock: float | None = None
        self.books = {v: {s: VenueBook() for s in self.symbols} for v in VENUES}
        self.trade_ids = {v: dict.fromkeys(self.symbols, 1_000_000) for v in VENUES}
        self.contract_values = {s: CONTRACT_VALUES.get(s, 1.0) for s in self.symbols}
        self.instruments = {okx_instrument(s): s for s in self.symbols}  # OKX instId -> symbol
        self.last_trade = {v: {} for v in VENUES}  # symbol -> price string sent last
        self.mark: dict[str, tuple[float, float, float]] = {}  # symbol -> (ts, mark, index)
        self.funding = {v: {} for v in VENUES}  # symbol -> (ts, rate, predicted, next)
        self.settled: dict[str, list[tuple[int, str]]] = {s: [] for s in self.symbols}
        self.open_interest: dict[str, tuple[float, float]] = {}
        self.ratios: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
        self.venue_mid = {v: {} for v in VENUES}
        self.klines: dict[str, dict[int, list]] = {s: {} for s in self.symbols}  # 1m, by open time (ms)

    def prehistory(self, now: float, minutes: int) -> None:
        """Simulate the ``minutes`` before ``now`` minute by minute, so the primary venue has 1m
        klines to serve for the engine's history backfill."""
        end = math.floor(now / 60.0) * 60.0
        self.clock = end - minutes * 60.0
        for _ in range(minutes):
            self.step(self.clock + 60.0, send=False)  # nobody listens to the past: no frames

    def _kline(self, symbol: str, ts: float, price: float, qty: float, buy: bool) -> None:
        """Fold a primary-venue trade into its 1m kline (Binance's array layout)."""
        open_ms = int(ts // 60.0) * 60_000
        row = self.klines[symbol].get(open_ms)
        if row is None:
            row = self.klines[symbol][open_ms] = [
                open_ms,
                price,
                price,
                price,
                price,
                0.0,
                open_ms + 59_999,
                0.0,
                0,
                0.0,
                0.0,
                "0",
            ]
        row[2], row[3], row[4] = max(row[2], price), min(row[3], price), price
        row[5] += qty
        row[7] += qty * price
        row[8] += 1
        if buy:
            row[9] += qty
            row[10] += qty * price

    def step(self, now: float, send: bool = True) -> dict[str, list[tuple[object, dict]]]:
        """Advance the market to ``now`` (Unix s) and return each venue's frames. Without ``send``
        only the state the REST endpoints serve moves (klines, mark, funding, open interest,
        ratios); encoding frames is most of a step's cost."""
        frames: dict[str, list] = {v: [] for v in VENUES}
        if self.clock is None:
            self.clock = now - 1.0
        if now <= self.clock:
            return frames
        events = self.sim.step(self.clock, now)
        self.clock = now
        for event in events:
            encode = getattr(self, f"_{type(event).__name__}", None)
            if encode is not None and (send or not isinstance(event, BookLevels | Liquidations)):
                encode(event, frames if send else None)
        if send:
            self._tickers(now, frames)
        return frames

    # --- encoders -------------------------------------------------------------------------------
    def _Trades(self, event: Trades, frames) -> None:  # noqa: N802 (named after the event type)
        venue = event.venue
        for symbol, ts, price, qty, side in zip(
            event.symbol, event.ts, event.price, event.qty, event.side, strict=True
        ):
            trade_id, p = self.trade_ids[venue][symbol] + 1, decimal(price)
            if venue == self.primary:
                self._kline(symbol, ts, float(p), float(decimal(qty, 6)), side > 0)
            if frames is None:
                continue
            self.trade_ids[venue][symbol] = trade_id
            self.last_trade[venue][symbol] = p
            if venue == BINANCE:
                payload = {
                    "e": "aggTrade",
                    "E": ms(ts) + 5,
                    "s": symbol,
                    "a": trade_id,
                    "p": p,
                    "q": decimal(qty, 6),
                    "f": trade_id * 3,
                    "l": trade_id * 3 + 2,
                    "T": ms(ts),
                    "m": bool(side < 0),
                }
                frames[venue].append((f"{symbol.lower()}@aggTrade", payload))
            elif venue == BYBIT:
                row = {
                    "T": ms(ts),
                    "s": symbol,
                    "S": "Buy" if side > 0 else "Sell",
                    "v": decimal(qty, 6),
                    "p": p,
                    "L": "PlusTick",
                    "i": str(uuid.UUID(int=trade_id)),
                    "BT": False,
                    "RPI": False,
                    "seq": trade_id,
                }
                topic = f"publicTrade.{symbol}"
                frames[venue].append(
                    (topic, {"topic": topic, "type": "snapshot", "ts": ms(ts) + 2, "data": [row]})
                )
            else:
                instrument = okx_instrument(symbol)
                row = {
                    "instId": instrument,
                    "tradeId": str(trade_id),
                    "px": p,
                    "sz": decimal(qty / self.contract_values[symbol], 6),
                    "side": "buy" if side > 0 else "sell",
                    "ts": str(ms(ts)),
                    "count": "1",
                    "source": "0",
                    "seqId": trade_id,
                }
                arg = {"channel": "trades", "instId": instrument}
                frames[venue].append((("trades", instrument), {"arg": arg, "data": [row]}))

    def _BookLevels(self, event: BookLevels, frames) -> None:  # noqa: N802
        venue = event.venue
        for k, symbol in enumerate(event.symbol):
            qty_unit = self.contract_values[symbol] if venue == OKX else 1.0
            bids = _levels(event.bid_price[k], event.bid_qty[k] / qty_unit)
            asks = _levels(event.ask_price[k], event.ask_qty[k] / qty_unit)
            book = self.books[venue][symbol]
            previous = book.sequence
            bid_changes, ask_changes = book.diff(bids, asks)
            count = len(bid_changes) + len(ask_changes)
            if not count:
                continue
            book.sequence += count
            ts = ms(event.ts[k])
            self.venue_mid[venue][symbol] = 0.5 * (event.bid_price[k, 0] + event.ask_price[k, 0])
            if venue == BINANCE:
                payload = {
                    "e": "depthUpdate",
                    "E": ts + 3,
                    "T": ts,
                    "s": symbol,
                    "U": previous + 1,
                    "u": book.sequence,
                    "pu": previous,
                    "b": bid_changes,
                    "a": ask_changes,
                }
                frames[venue].append((f"{symbol.lower()}@depth@100ms", payload))
                best_bid = max(bids, key=float)
                best_ask = min(asks, key=float)
                ticker = {
                    "e": "bookTicker",
                    "u": book.sequence,
                    "s": symbol,
                    "b": best_bid,
                    "B": bids[best_bid],
                    "a": best_ask,
                    "A": asks[best_ask],
                    "T": ts,
                    "E": ts + 3,
                }
                frames[venue].append((f"{symbol.lower()}@bookTicker", ticker))
            elif venue == BYBIT:
                book.sequence = previous + 1  # Bybit: one u per frame
                topic = f"orderbook.200.{symbol}"
                data = {
                    "s": symbol,
                    "b": bid_changes,
                    "a": ask_changes,
                    "u": book.sequence,
                    "seq": book.sequence,
                }
                frames[venue].append(
                    (topic, {"topic": topic, "type": "delta", "ts": ts, "data": data, "cts": ts})
                )
            else:
                instrument = okx_instrument(symbol)
                row = {
                    "asks": okx_levels(ask_changes),
                    "bids": okx_levels(bid_changes),
                    "ts": str(ts),
                    "checksum": 0,
                    "prevSeqId": previous,
                    "seqId": book.sequence,
                }
                arg = {"channel": "books", "instId": instrument}
                frames[venue].append((("books", instrument), {"arg": arg, "action": "update", "data": [row]}))

    def book_snapshot(self, venue: str, symbol: str) -> tuple[int, list, list]:
        """(sequence id, bids best first, asks best first) of a venue's current book."""
        book = self.books[venue][symbol]
        bids = sorted(([p, q] for p, q in book.bids.items()), key=lambda level: -float(level[0]))
        asks = sorted(([p, q] for p, q in book.asks.items()), key=lambda level: float(level[0]))
        return book.sequence, bids, asks

    def snapshot_message(self, venue: str, symbol: str, now: float) -> dict:
        """The book snapshot a venue sends: Binance's REST depth body, Bybit's first orderbook
        message after a subscription, OKX's ``books`` snapshot."""
        sequence, bids, asks = self.book_snapshot(venue, symbol)
        t = ms(now)
        if venue == BINANCE:
            return {"lastUpdateId": sequence, "E": t, "T": t, "bids": bids, "asks": asks}
        if venue == BYBIT:
            topic = f"orderbook.200.{symbol}"
            data = {"s": symbol, "b": bids, "a": asks, "u": sequence, "seq": sequence}
            return {"topic": topic, "type": "snapshot", "ts": t, "data": data, "cts": t}
        row = {"asks": okx_levels(asks), "bids": okx_levels(bids), "ts": str(t), "checksum": 0}
        arg = {"channel": "books", "instId": okx_instrument(symbol)}
        return {"arg": arg, "action": "snapshot", "data": [row | {"prevSeqId": -1, "seqId": sequence}]}

    def _MarkPrice(self, event: MarkPrice, frames) -> None:  # noqa: N802
        for k, symbol in enumerate(event.symbol):
            self.mark[symbol] = (event.ts[k], event.mark[k], event.index[k])

    def _Funding(self, event: Funding, frames) -> None:  # noqa: N802
        for k, symbol in enumerate(event.symbol):
            row = (event.ts[k], event.rate[k], event.predicted_rate[k], event.next_funding_ts[k])
            self.funding[event.venue][symbol] = row
            if event.venue == self.primary:
                settles = ms(event.next_funding_ts[k]) - 8 * 3_600_000
                history = self.settled[symbol]
                if not history or history[-1][0] != settles:
                    history.append((settles, decimal(event.rate[k])))

    def _OpenInterest(self, event: OpenInterest, frames) -> None:  # noqa: N802
        for k, symbol in enumerate(event.symbol):
            self.open_interest[symbol] = (event.ts[k], event.open_interest[k])

    def _PositioningRatio(self, event: PositioningRatio, frames) -> None:  # noqa: N802
        for k, symbol in enumerate(event.symbol):
            self.ratios[(event.kind, symbol)].append((ms(event.ts[k]), event.ratio[k]))

    def _Liquidations(self, event: Liquidations, frames) -> None:  # noqa: N802
        venue = event.venue
        for symbol, ts, side, price, qty in zip(
            event.symbol, event.ts, event.side, event.price, event.qty, strict=True
        ):
            p, long = decimal(price), side == LONG_LIQUIDATED
            if venue == BINANCE:
                order = {
                    "s": symbol,
                    "S": "SELL" if long else "BUY",
                    "o": "LIMIT",
                    "f": "IOC",
                    "q": decimal(qty, 6),
                    "p": p,
                    "ap": p,
                    "X": "FILLED",
                    "l": decimal(qty, 6),
                    "z": decimal(qty, 6),
                    "T": ms(ts),
                }
                frames[venue].append(
                    (f"{symbol.lower()}@forceOrder", {"e": "forceOrder", "E": ms(ts) + 5, "o": order})
                )
            elif venue == BYBIT:
                topic = f"allLiquidation.{symbol}"
                row = {"T": ms(ts), "s": symbol, "S": "Buy" if long else "Sell", "v": decimal(qty, 6), "p": p}
                frames[venue].append(
                    (topic, {"topic": topic, "type": "snapshot", "ts": ms(ts) + 5, "data": [row]})
                )
            else:
                instrument = okx_instrument(symbol)
                detail = {
                    "bkLoss": "0",
                    "bkPx": p,
                    "ccy": "",
                    "posSide": "long" if long else "short",
                    "side": "sell" if long else "buy",
                    "sz": decimal(qty / self.contract_values[symbol], 6),
                    "ts": str(ms(ts)),
                }
                row = {
                    "details": [detail],
                    "instFamily": instrument[:-5],
                    "instId": instrument,
                    "instType": "SWAP",
                    "uly": instrument[:-5],
                }
                arg = {"channel": "liquidation-orders", "instType": "SWAP"}
                frames[venue].append((("liquidation-orders", "SWAP"), {"arg": arg, "data": [row]}))

    def _tickers(self, now: float, frames) -> None:
        """Mark/index/funding/open interest in each venue's own streams, once per step."""
        t = ms(now)
        for symbol in self.symbols:
            if symbol not in self.mark:
                continue
            _, mark, index = self.mark[symbol]
            oi = self.open_interest.get(symbol, (now, float("nan")))[1]
            for venue in VENUES:
                funding = self.funding[venue].get(symbol)
                own_mark = mark if venue == self.primary else self.venue_mid[venue].get(symbol, mark)
                if venue == BINANCE:
                    live = (
                        ""
                        if funding is None
                        else decimal(funding[2] if np.isfinite(funding[2]) else funding[1])
                    )
                    payload = {
                        "e": "markPriceUpdate",
                        "E": t,
                        "s": symbol,
                        "p": decimal(own_mark),
                        "i": decimal(index),
                        "P": decimal(index),
                        "r": live,
                        "T": ms(funding[3]) if funding else 0,
                    }
                    frames[venue].append((f"{symbol.lower()}@markPrice@1s", payload))
                elif venue == BYBIT:
                    topic = f"tickers.{symbol}"
                    data = {"symbol": symbol, "markPrice": decimal(own_mark), "indexPrice": decimal(index)}
                    if funding:
                        data |= {"fundingRate": decimal(funding[1]), "nextFundingTime": str(ms(funding[3]))}
                    if np.isfinite(oi):
                        data |= {"openInterest": decimal(2 * oi, 9), "singleOpenInterest": decimal(oi, 9)}
                    frames[venue].append(
                        (topic, {"topic": topic, "type": "snapshot", "data": data, "cs": t, "ts": t})
                    )
                else:
                    instrument = okx_instrument(symbol)
                    mark_row = {
                        "instId": instrument,
                        "instType": "SWAP",
                        "markPx": decimal(own_mark),
                        "ts": str(t),
                    }
                    frames[venue].append(
                        (
                            ("mark-price", instrument),
                            {"arg": {"channel": "mark-price", "instId": instrument}, "data": [mark_row]},
                        )
                    )
                    if funding:
                        row = {
                            "instId": instrument,
                            "instType": "SWAP",
                            "fundingRate": decimal(funding[1]),
                            "fundingTime": str(ms(funding[3])),
                            "nextFundingTime": str(ms(funding[3]) + 28_800_000),
                            "method": "current_period",
                            "ts": str(t),
                        }
                        frames[venue].append(
                            (
                                ("funding-rate", instrument),
                                {"arg": {"channel": "funding-rate", "instId": instrument}, "data": [row]},
                            )
                        )
                    if np.isfinite(oi):
                        row = {
                            "instId": instrument,
                            "instType": "SWAP",
                            "oi": decimal(oi / self.contract_values[symbol], 9),
                            "oiCcy": decimal(oi, 9),
                            "ts": str(t),
                        }
                        frames[venue].append(
                            (
                                ("open-interest", instrument),
                                {"arg": {"channel": "open-interest", "instId": instrument}, "data": [row]},
                            )
                        )


# --- servers --------------------------------------------------------------------------------------
@dataclass
class Faults:
    """What a server does wrong, set by the fault tests."""

    silent: bool = False  # accept connections, send nothing at all (a stalled link)
    quiet: bool = False  # no data frames, but replies (acks, pongs) still go out
    corrupt_every: int = 0  # every n-th data frame is cut in half (invalid JSON)
    skip_sequence: bool = False  # the next book diff skips a sequence id (a gap)
    down: bool = False  # refuse new connections with HTTP 503


class VenueServer:
    """One venue on loopback: WebSocket subscribe protocol + REST, fed by a shared WireMarket."""

    venue = ""

    def __init__(self, market: WireMarket, host: str = "127.0.0.1", port: int = 0):
        self.market = market
        self.host, self.port = host, port
        self.faults = Faults()
        self.sockets: dict[web.WebSocketResponse, dict] = {}
        self.sent = 0
        self.runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.middlewares.append(self._down_middleware)
        self.routes()

    @web.middleware
    async def _down_middleware(self, request, handler):
        if self.faults.down:
            return web.json_response({"msg": "service unavailable"}, status=503)
        return await handler(request)

    def routes(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port picked when 0

    async def stop(self) -> None:
        await self.drop_connections()
        if self.runner is not None:
            await self.runner.cleanup()

    async def drop_connections(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        self.sockets.clear()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def encode(self, subscription: dict, key, text: str) -> str:
        return text

    async def publish(self, frames: list[tuple[object, dict]]) -> None:
        if self.faults.silent or self.faults.quiet:
            return
        for ws, subscription in list(self.sockets.items()):  # snapshots owed to new subscriptions
            while subscription.get("pending"):
                await ws.send_str(subscription["pending"].pop(0))
        for key, payload in frames:
            if self.faults.skip_sequence and self._skip(payload):
                self.faults.skip_sequence = False
            text = json.dumps(payload, separators=(",", ":"))
            for ws, subscription in list(self.sockets.items()):
                if key not in subscription["keys"]:
                    continue
                out = self.encode(subscription, key, text)
                self.sent += 1
                if self.faults.corrupt_every and self.sent % self.faults.corrupt_every == 0:
                    out = out[: len(out) // 2]
                try:
                    await ws.send_str(out)
                except (ConnectionError, RuntimeError):
                    self.sockets.pop(ws, None)

    def _skip(self, payload: dict) -> bool:
        return False

    async def inject(self, text: str) -> None:
        """Send a raw text frame to every connected client (fault tests: unknown or bad frames)."""
        for ws in list(self.sockets):
            await ws.send_str(text)

    async def _serve(self, request: web.Request, subscription: dict, on_text) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.sockets[ws] = subscription
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    reply = on_text(subscription, message.data)
                    for text in [reply] if isinstance(reply, str) else reply or []:
                        if not self.faults.silent:
                            await ws.send_str(text)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.pop(ws, None)
        return ws


class BinanceServer(VenueServer):
    """``/public`` and ``/market`` entry points (``/ws/<streams>`` raw, ``/stream?streams=`` combined,
    live SUBSCRIBE), and the /fapi and /futures/data REST endpoints the adapter calls."""

    venue = BINANCE
    PUBLIC = ("@depth", "@bookTicker")

    def routes(self) -> None:
        for entry in ("public", "market"):
            self.app.router.add_get(f"/{entry}/ws", self._socket(entry, False))
            self.app.router.add_get(f"/{entry}/ws/{{streams:.*}}", self._socket(entry, False))
            self.app.router.add_get(f"/{entry}/stream", self._socket(entry, True))
        self.app.router.add_get("/fapi/v1/depth", self._depth)
        self.app.router.add_get("/fapi/v1/openInterest", self._open_interest)
        self.app.router.add_get("/fapi/v1/fundingRate", self._funding_rate)
        self.app.router.add_get("/fapi/v1/klines", self._klines)
        for name in RATIO_NAMES.values():
            self.app.router.add_get(f"/futures/data/{name}", self._ratio)

    def _socket(self, entry: str, combined: bool):
        async def handler(request: web.Request):
            names = request.match_info.get("streams") or request.query.get("streams", "")
            subscription = {"entry": entry, "combined": combined, "keys": set()}
            self._subscribe(subscription, [n for n in names.split("/") if n])
            return await self._serve(request, subscription, self._on_text)

        return handler

    def _subscribe(self, subscription: dict, names: list[str]) -> None:
        for name in names:
            public = any(tag in name for tag in self.PUBLIC)
            if public == (subscription["entry"] == "public"):  # a stream on the wrong entry point is
                subscription["keys"].add(name)  # acknowledged but never delivered, as on Binance

    def _on_text(self, subscription: dict, text: str) -> str | None:
        try:
            request = json.loads(text)
            method, ident = request["method"], request["id"]
        except (ValueError, KeyError, TypeError):
            return json.dumps({"code": 2, "msg": "Invalid request"})
        if method == "SUBSCRIBE":
            self._subscribe(subscription, list(request.get("params", [])))
            return json.dumps({"result": None, "id": ident})
        if method == "UNSUBSCRIBE":
            subscription["keys"].difference_update(request.get("params", []))
            return json.dumps({"result": None, "id": ident})
        if method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"result": sorted(subscription["keys"]), "id": ident})
        return json.dumps({"code": 2, "msg": f"Invalid request: unknown method {method}", "id": ident})

    def encode(self, subscription: dict, key, text: str) -> str:
        return binance_combined(key, text) if subscription["combined"] else text

    def _skip(self, payload: dict) -> bool:
        if payload.get("e") == "depthUpdate":
            payload["pu"] -= 1
            return True
        return False

    def _symbol(self, request: web.Request) -> str:
        symbol = request.query.get("symbol", "")
        if symbol not in self.market.symbols:
            raise web.HTTPBadRequest(text=json.dumps({"code": -1121, "msg": "Invalid symbol."}))
        return symbol

    async def _depth(self, request: web.Request) -> web.Response:
        return web.json_response(self.market.snapshot_message(BINANCE, self._symbol(request), time.time()))

    async def _open_interest(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        if symbol not in self.market.open_interest:
            return web.json_response({"code": -1, "msg": "no data yet"}, status=400)
        ts, value = self.market.open_interest[symbol]
        return web.json_response({"openInterest": decimal(value, 9), "symbol": symbol, "time": ms(ts)})

    async def _funding_rate(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        rows = [
            {"symbol": symbol, "fundingRate": rate, "fundingTime": t, "markPrice": "0", "rateType": "Regular"}
            for t, rate in self.market.settled[symbol][-int(request.query.get("limit", 100)) :]
        ]
        return web.json_response(rows)

    async def _klines(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        if request.query.get("interval") != "1m":
            return web.json_response(
                {"code": -1120, "msg": "Invalid interval (the simulator keeps 1m)."}, status=400
            )
        start = int(request.query.get("startTime", 0))
        end = int(request.query.get("endTime", 2**62))
        limit = min(int(request.query.get("limit", 500)), 1500)
        rows = [row for t, row in sorted(self.market.klines[symbol].items()) if start <= t <= end][:limit]
        text = [
            [
                r[0],
                decimal(r[1]),
                decimal(r[2]),
                decimal(r[3]),
                decimal(r[4]),
                decimal(r[5], 9),
                r[6],
                decimal(r[7], 12),
                r[8],
                decimal(r[9], 9),
                decimal(r[10], 12),
                "0",
            ]
            for r in rows
        ]
        return web.json_response(text)

    async def _ratio(self, request: web.Request) -> web.Response:
        symbol = self._symbol(request)
        name = request.path.rsplit("/", 1)[1]
        kind = next(k for k, v in RATIO_NAMES.items() if v == name)
        rows = []
        for t, ratio in self.market.ratios.get((kind, symbol), [])[-int(request.query.get("limit", 30)) :]:
            if kind == RATIO_TAKER:
                rows.append(
                    {
                        "buySellRatio": decimal(ratio, 5),
                        "buyVol": decimal(ratio, 6),
                        "sellVol": "1",
                        "timestamp": t,
                    }
                )
            else:
                long = ratio / (1.0 + ratio)
                rows.append(
                    {
                        "symbol": symbol,
                        "longShortRatio": decimal(ratio, 5),
                        "longAccount": decimal(long, 4),
                        "shortAccount": decimal(1 - long, 4),
                        "timestamp": t,
                    }
                )
        return web.json_response(rows)


class BybitServer(VenueServer):
    """``/v5/public/linear``: ``op`` subscribe/unsubscribe/ping, a book snapshot on subscribing."""

    venue = BYBIT

    def routes(self) -> None:
        self.app.router.add_get("/v5/public/linear", self._handler)

    async def _handler(self, request: web.Request):
        return await self._serve(request, {"keys": set(), "pending": []}, self._on_text)

    def _on_text(self, subscription: dict, text: str) -> str | None:
        try:
            request = json.loads(text)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            return json.dumps({"success": False, "ret_msg": "Invalid request", "conn_id": "sim", "op": ""})
        ack = {
            "success": True,
            "ret_msg": "",
            "conn_id": "sim",
            "req_id": request.get("req_id", ""),
            "op": op,
        }
        if op == "ping":
            return json.dumps(ack | {"ret_msg": "pong"})
        if op in ("subscribe", "unsubscribe"):
            topics = request.get("args", [])
            bad = [t for t in topics if t.rpartition(".")[2] not in self.market.symbols]
            if bad:
                return json.dumps(ack | {"success": False, "ret_msg": f"Invalid topic: {bad[0]}"})
            if op == "subscribe":
                subscription["keys"].update(topics)
                for topic in topics:  # the first message of a book topic is its snapshot
                    if topic.startswith("orderbook."):
                        symbol = topic.rpartition(".")[2]
                        snapshot = self.market.snapshot_message(BYBIT, symbol, time.time())
                        subscription["pending"].append(json.dumps(snapshot))
            else:
                subscription["keys"].difference_update(topics)
            return json.dumps(ack)
        return json.dumps(ack | {"success": False, "ret_msg": f"unknown op {op}"})

    def _skip(self, payload: dict) -> bool:
        if str(payload.get("topic", "")).startswith("orderbook.") and payload["type"] == "delta":
            payload["data"]["u"] += 1
            return True
        return False


class OkxServer(VenueServer):
    """``/ws/v5/public``: ``op`` subscribe with ``{channel, instId|instType}`` args, text ping/pong,
    a book snapshot on subscribing; REST instruments and books."""

    venue = OKX

    def routes(self) -> None:
        self.app.router.add_get("/ws/v5/public", self._handler)
        self.app.router.add_get("/api/v5/public/instruments", self._instruments)
        self.app.router.add_get("/api/v5/market/books", self._books)

    async def _handler(self, request: web.Request):
        return await self._serve(request, {"keys": set(), "pending": []}, self._on_text)

    def _on_text(self, subscription: dict, text: str) -> str | list[str] | None:
        if text == "ping":
            return "pong"
        try:
            request = json.loads(text)
            op, args = request["op"], request["args"]
            keys = [(a["channel"], a.get("instId") or a["instType"]) for a in args]
        except (ValueError, KeyError, TypeError):
            return json.dumps(
                {"event": "error", "code": "60012", "msg": f"Invalid request: {text[:200]}", "connId": "sim"}
            )
        replies = []
        for arg, key in zip(args, keys, strict=True):
            if op == "subscribe":
                subscription["keys"].add(key)
                if key[0] == "books" and key[1] in self.market.instruments:
                    snapshot = self.market.snapshot_message(OKX, self.market.instruments[key[1]], time.time())
                    subscription["pending"].append(json.dumps(snapshot))
            else:
                subscription["keys"].discard(key)
            replies.append(
                json.dumps({"id": request.get("id", ""), "event": op, "arg": arg, "connId": "sim"})
            )
        return replies  # one acknowledgement per argument, as OKX sends them

    def _skip(self, payload: dict) -> bool:
        if payload.get("arg", {}).get("channel") == "books":
            payload["data"][0]["prevSeqId"] -= 1
            return True
        return False

    async def _instruments(self, request: web.Request) -> web.Response:
        rows = [
            {
                "instId": okx_instrument(s),
                "instType": "SWAP",
                "ctVal": decimal(self.market.contract_values[s]),
                "ctValCcy": s[:-4],
                "settleCcy": "USDT",
            }
            for s in self.market.symbols
        ]
        return web.json_response({"code": "0", "msg": "", "data": rows})

    async def _books(self, request: web.Request) -> web.Response:
        symbol = self.market.instruments.get(request.query.get("instId", ""))
        if symbol is None:
            return web.json_response({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
        row = self.market.snapshot_message(OKX, symbol, time.time())["data"][0]
        rest = {k: row[k] for k in ("asks", "bids", "ts", "seqId")}  # REST rows carry no checksum
        return web.json_response({"code": "0", "msg": "", "data": [rest]})


SERVERS = {BINANCE: BinanceServer, BYBIT: BybitServer, OKX: OkxServer}


class WireExchange:
    """The three venue servers and the market clock that feeds them."""

    def __init__(self, config: Config, step_seconds: float = 0.5, seed: int | None = None):
        self.market = WireMarket(config, seed=seed)
        self.servers = {venue: cls(self.market) for venue, cls in SERVERS.items()}
        self.step_seconds = step_seconds
        self.paused = False  # the market stands still: no frames at all (tests drain the wire)
        self._task: asyncio.Task | None = None

    async def start(self, history_minutes: int = 0) -> None:
        """Serve; ``history_minutes`` of simulated past first (klines for the backfill)."""
        for server in self.servers.values():
            await server.start()
        if history_minutes:
            self.market.prehistory(time.time(), history_minutes)
        self.market.step(time.time())  # books exist before the first client subscribes
        self.market.last_trade = {v: {} for v in VENUES}  # that step's frames went to nobody
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for server in self.servers.values():
            await server.stop()

    async def _run(self) -> None:
        while True:
            now = time.time()
            next_step = math.floor(now / self.step_seconds + 1) * self.step_seconds
            await asyncio.sleep(next_step - now)
            if self.paused:
                continue
            frames = self.market.step(next_step)
            for venue, server in self.servers.items():
                await server.publish(frames[venue])

    def venue_urls(self) -> dict[str, dict[str, str]]:
        """``[venues.*]`` settings pointing at these servers."""
        urls = {}
        for venue, server in self.servers.items():
            ws = server.ws_url + {BINANCE: "", BYBIT: "/v5/public/linear", OKX: "/ws/v5/public"}[venue]
            urls[venue] = {"ws_url": ws, "rest_url": server.rest_url}
        return urls
