"""Every venue client against a local server that replays real captures and the venues'
documented messages over a real WebSocket (and REST), checked value for value."""

from __future__ import annotations

import bisect
import gzip
import json
import os
import time

import pytest
from aiohttp import WSMsgType, web

from bpjax.core.defines import BINANCE, BYBIT, OKX, RATIO_TOP_POSITIONS, SHORT_LIQUIDATED
from bpjax.feeds.client import LiveFeeds
from bpjax.ingest.events import Liquidations, OpenInterest, PositioningRatio, Trades
from tests.harness import small_config
from tests.test_feeds_live import wait_until

PUBLIC_EVENTS = ("depthUpdate", "bookTicker")


class Replay:
    """One aiohttp app on loopback: WebSocket paths that send recorded frames once a client is
    connected (after its subscribe request where the venue expects one), and fixed REST bodies."""

    def __init__(self):
        self.app = web.Application()
        self.sent = 0
        self.runner = None
        self.port = 0

    def socket(self, path: str, frames: list[str], wait_for_subscribe: bool, ack: str | None = None):
        async def handler(request):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            if wait_for_subscribe:
                message = await ws.receive()
                assert message.type == WSMsgType.TEXT and "subscribe" in message.data
                if ack:
                    await ws.send_str(ack)
            for frame in frames:
                await ws.send_str(frame)
                self.sent += 1
            async for _ in ws:  # keep the socket open, answer nothing
                pass
            return ws

        self.app.router.add_get(path, handler)

    def rest(self, path: str, body_for):
        async def handler(request):
            return web.json_response(body_for(request.query))

        self.app.router.add_get(path, handler)

    async def start(self):
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self):
        await self.runner.cleanup()


def only(venue: str, url: str, rest: str, symbols=None, **feeds):
    config = small_config(feeds={"poll_open_interest_seconds": 0.5, **feeds})
    if symbols:
        config = config.with_symbols(symbols)
    settings = {v: {"enabled": v == venue} for v in (BINANCE, BYBIT, OKX)}
    settings[venue] |= {"ws_url": url, "rest_url": rest}
    return config.with_venues(settings)


def run_against(replay_setup, config_for):
    """Start the replay server and a LiveFeeds on one loop; returns (feeds, replay)."""
    replay = Replay()
    replay_setup(replay)
    feeds = LiveFeeds(small_config())  # placeholder config until the port is known
    feeds.thread.start()
    feeds.call(replay.start())
    feeds.config = config_for(replay.port)
    feeds.call(feeds._start())
    return feeds, replay


def stop(feeds, replay):
    async def clients_then_server():
        for client in feeds.clients.values():
            await client.stop()
        feeds.clients.clear()
        await replay.stop()

    feeds.call(clients_then_server())
    feeds.stop()


def example(shared, name, line=0):
    with open(os.path.join(shared, "feeds", "examples", name)) as f:
        return json.loads(f.read().splitlines()[line])


def test_binance_client_on_the_raw_capture(shared):
    path = os.path.join(shared, "data", "sample", "binance_um_ws_raw", "btcusdt_2024-07-18T2357Z.jsonl.gz")
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    snapshot = next(r["msg"] for r in rows if r["kind"] == "rest_depth_snapshot")
    ws_rows = [r["msg"] for r in rows if r["kind"] == "ws"]
    public = [json.dumps(m) for m in ws_rows if m["data"]["e"] in PUBLIC_EVENTS]
    market = [json.dumps(m) for m in ws_rows if m["data"]["e"] not in PUBLIC_EVENTS]
    ratio = example(shared, "binance_rest_topLongShortPositionRatio.jsonl")

    def setup(replay):
        replay.socket("/public/stream", public, wait_for_subscribe=False)
        replay.socket("/market/stream", market, wait_for_subscribe=False)
        replay.rest("/fapi/v1/depth", lambda q: snapshot)
        replay.rest("/fapi/v1/openInterest", lambda q: example(shared, "binance_rest_openInterest.jsonl"))
        replay.rest("/fapi/v1/fundingRate", lambda q: example(shared, "binance_rest_fundingRate.jsonl"))
        for name in ("topLongShortPositionRatio", "topLongShortAccountRatio", "globalLongShortAccountRatio"):
            replay.rest(f"/futures/data/{name}", lambda q, body=ratio: body)
        replay.rest(
            "/futures/data/takerlongshortRatio",
            lambda q: example(shared, "binance_rest_takerlongshortRatio.jsonl"),
        )

    feeds, replay = run_against(
        setup, lambda port: only(BINANCE, f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    )
    try:
        client = feeds.clients[BINANCE]
        assert wait_until(lambda: client.frames_parsed >= len(ws_rows), timeout=60)
        events = feeds.events(time.time())
        book = client.adapter.books["BTCUSDT"]
        assert book.synced and client.adapter.health["book"].gaps == 0
        tickers = sorted((m["data"] for m in ws_rows if m["data"]["e"] == "bookTicker"), key=lambda d: d["u"])
        t = tickers[bisect.bisect_right([d["u"] for d in tickers], book.sequence) - 1]
        assert book.best() == (float(t["b"]), float(t["B"]), float(t["a"]), float(t["A"]))
        (trades,) = [e for e in events if isinstance(e, Trades)]
        captured = [m["data"] for m in ws_rows if m["data"]["e"] == "trade" and m["data"]["X"] == "MARKET"]
        assert len(trades.price) == len(captured)
        for k in (0, -1):
            d = captured[k]
            assert (trades.price[k], trades.qty[k], trades.side[k], trades.ts[k]) == (
                float(d["p"]), float(d["q"]), -1 if d["m"] else 1, d["T"] / 1000)  # fmt: skip
        polled = [e for e in events if isinstance(e, OpenInterest)]  # one per poll
        assert polled and all(e.open_interest[0] == 10659.509 and e.symbol == ("BTCUSDT",) for e in polled)
        top = [e for e in events if isinstance(e, PositioningRatio) and e.kind == RATIO_TOP_POSITIONS]
        assert top and top[0].ratio[-1] == 1.4337  # the later of the two rows
    finally:
        stop(feeds, replay)


def test_bybit_client_on_the_captured_linear_streams(shared):
    def frames(name):
        with open(os.path.join(shared, "data", "messages", name)) as f:
            return [json.loads(line) for line in f]

    recorded = sorted(
        frames("bybit_v5_linear_orderbook200.2026-08-09.jsonl")
        + frames("bybit_v5_linear_tickers.2026-08-09.jsonl")
        + frames("bybit_v5_linear_publicTrade.2026-08-09.jsonl"),
        key=lambda r: r["recv_ts"],
    )
    ack = json.dumps(frames("bybit_v5_linear_control.2026-08-09.jsonl")[0]["msg"])

    def setup(replay):
        replay.socket("/v5/public/linear", [json.dumps(r["msg"]) for r in recorded], True, ack)

    config = lambda port: only(BYBIT, f"ws://127.0.0.1:{port}/v5/public/linear", f"http://127.0.0.1:{port}")  # noqa: E731
    feeds, replay = run_against(setup, config)
    try:
        client = feeds.clients[BYBIT]
        assert wait_until(lambda: client.frames_parsed >= len(recorded) + 1, timeout=60)
        events = feeds.events(time.time())
        health = client.adapter.health
        assert health["book"].gaps == 0 and health["book"].messages == 1598
        assert all(client.adapter.books[s].synced for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"))
        (trades,) = [e for e in events if isinstance(e, Trades)]
        rows = [
            row for r in recorded if r["msg"]["topic"].startswith("publicTrade") for row in r["msg"]["data"]
        ]
        assert len(trades.price) == len(rows)
        first = (float(rows[0]["p"]), float(rows[0]["v"]), 1 if rows[0]["S"] == "Buy" else -1)
        assert (trades.price[0], trades.qty[0], trades.side[0]) == first
        state = {}
        for r in recorded:
            if r["msg"]["topic"] == "tickers.ETHUSDT":
                state = dict(r["msg"]["data"]) if r["msg"]["type"] == "snapshot" else state | r["msg"]["data"]
        (oi,) = [e for e in events if isinstance(e, OpenInterest)]
        assert oi.open_interest[oi.symbol.index("ETHUSDT")] == float(state["singleOpenInterest"])
    finally:
        stop(feeds, replay)


def test_okx_client_on_the_documented_messages(shared):
    frames = [
        json.dumps(example(shared, "okx_trades.jsonl", 1)),  # BTC-USDT-SWAP, 5 contracts
        json.dumps(example(shared, "okx_open-interest.jsonl", 0)),
        json.dumps(example(shared, "okx_liquidation-orders.jsonl", 0)),  # IOST-USDT-SWAP short closed
        json.dumps(example(shared, "okx_mark-price.jsonl", 1)),  # WNCG-USDT-SWAP
        json.dumps(example(shared, "okx_funding-rate.jsonl", 1)),
    ]
    instruments = {"code": "0", "msg": "", "data": [
        {"instId": "BTC-USDT-SWAP", "ctVal": "0.01"}, {"instId": "IOST-USDT-SWAP", "ctVal": "1000"},
        {"instId": "WNCG-USDT-SWAP", "ctVal": "1"}]}  # fmt: skip

    def setup(replay):
        replay.socket("/ws/v5/public", frames, True, json.dumps(example(shared, "okx_control.jsonl", 1)))
        replay.rest("/api/v5/public/instruments", lambda q: instruments)

    symbols = ("BTCUSDT", "IOSTUSDT", "WNCGUSDT")

    def config(port):
        return only(OKX, f"ws://127.0.0.1:{port}/ws/v5/public", f"http://127.0.0.1:{port}", symbols)

    feeds, replay = run_against(setup, config)
    try:
        client = feeds.clients[OKX]
        assert wait_until(lambda: client.frames_parsed >= len(frames) + 1, timeout=30)
        events = {type(e).__name__: e for e in feeds.events(time.time())}
        trades = events["Trades"]
        assert (trades.symbol, trades.price[0], trades.qty[0], trades.side[0]) == (
            ("BTCUSDT",),
            48938.5,
            0.05,
            1,
        )
        assert events["OpenInterest"].open_interest[0] == 22161.1301000000309
        liquidation: Liquidations = events["Liquidations"]
        assert (liquidation.side[0], liquidation.price[0], liquidation.qty[0]) == (
            SHORT_LIQUIDATED,
            0.007831,
            13000.0,
        )
        assert events["MarkPrice"].mark[0] == 2.1729 and events["Funding"].rate[0] == 0.00048105
        assert sum(h.malformed + h.unknown for h in client.adapter.health.values()) == 0
    finally:
        stop(feeds, replay)


def test_a_full_frame_queue_drops_and_counts_instead_of_growing():
    """Nobody parses: a socket delivering 1,000 frames into a queue bounded at 100 keeps the first
    100 and counts 900 drops."""
    import asyncio

    import aiohttp

    from bpjax.feeds.binance import BinanceAdapter
    from bpjax.feeds.client import BinanceClient, Connection

    frames = [json.dumps({"e": "aggTrade", "s": "BTCUSDT", "a": k, "p": "1", "q": "1", "T": k, "m": True})
              for k in range(1000)]  # fmt: skip

    async def scenario():
        replay = Replay()
        replay.socket("/market/stream", frames, wait_for_subscribe=False)
        await replay.start()
        config = only(
            BINANCE, f"ws://127.0.0.1:{replay.port}", f"http://127.0.0.1:{replay.port}", queue_frames=100
        )
        client = BinanceClient(config, BinanceAdapter(config.symbols))
        client.session = aiohttp.ClientSession()
        connection = Connection("binance/market", f"{config.venues.binance.ws_url}/market/stream", client)
        task = asyncio.create_task(connection.run())
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                if connection.dropped + client.queue.qsize() >= 1000:
                    break
            return client.queue.qsize(), connection.dropped, client.queue.get_nowait()[1]
        finally:
            task.cancel()
            await client.session.close()
            await replay.stop()

    queued, dropped, first = asyncio.run(scenario())
    assert (queued, dropped) == (100, 900)
    assert json.loads(first)["a"] == 0  # the oldest frames are kept, in order


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("ERROR", logger="bpjax.feeds")
