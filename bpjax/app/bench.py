"""``bpjax bench``: what a tick costs, against what users run today, in one process.

For each symbol count: compile time (ahead-of-time, separate from running), steady-state
tick latency p50/p99 (pack + one device transfer + the tick, after ``block_until_ready``),
peak memory and device kind. Snapshots come from the embedded simulator, prepared
beforehand so the event folding is not counted; the clock advances by the engine tick,
so 1 m / 5 m / 1 h bars close on their real cadence and p99 includes bar-close ticks.

Baselines compute, for the same symbols and the three timeframes, the classic subset over
a 512-bar history: every card whose indicator TA-Lib ships (``CLASSIC``, 28 cards: RSI,
MACD, stochastic, CCI, TRIX, ultimate oscillator, ROC, ATR, Bollinger, Keltner, Donchian,
Aroon, DMI/ADX, EMA ribbon and cross, Ichimoku lines, regression slope, chandelier, RSI(2),
MFI, OBV, Chaikin A/D, beta and correlation against the benchmark), with the card's periods:

* ``talib-loop``: TA-Lib called per series in a Python loop, recomputing each tick (the
  hand-rolled bot style), one parameter set;
* ``talib-loop-all-modes``: the same for each mode's lookback scale (0.5, 1, 2), which is
  what the engine computes: the like-for-like comparison;
* ``numpy-vectorized``: NumPy over all series at once, full recompute (float64), one set,
  for the first twelve indicators only (RSI to Donchian; writing all of them in NumPy is
  the work the engine saves its users).

The engine does strictly more per tick (every card for three modes, quality, aggregation).
"""

from __future__ import annotations

import os
import platform
import resource
import time

import jax
import numpy as np

from bpjax.app.sources import SimSource
from bpjax.core import host
from bpjax.core.config import Config
from bpjax.ingest.snapshot import Accumulator, tick_timing
from bpjax.tick import compilations
from bpjax.tick.engine import Engine

HISTORY = 512
# the cards whose indicator TA-Lib ships (the "classic subset"): the TA-Lib baselines compute
# each of them, with the card's periods; NumPy computes the first twelve
CLASSIC = (
    "rsi",
    "macd",
    "stochastic",
    "cci",
    "trix",
    "ultimate_oscillator",
    "roc",
    "atr_expansion",
    "bollinger_percent_b",
    "bollinger_pierce",
    "squeeze",
    "keltner_position",
    "donchian_position",
    "aroon_oscillator",
    "directional_movement",
    "ema_ribbon",
    "golden_cross",
    "ichimoku_base",
    "linear_regression_t",
    "chandelier_trend",
    "atr_stretch",
    "rsi2_exhaustion",
    "ema_deviation_z",
    "money_flow_index",
    "obv_trend",
    "chaikin_money_flow",
    "beta_implied_move",
    "correlation_regime",
)
NUMPY_CLASSIC = 12


def bench_config(config: Config, symbols: int) -> Config:
    """The config over ``symbols`` symbols: the configured ones first, then synthetic ones."""
    names = list(config.symbols[:symbols])
    names += [f"SYN{i:05d}USDT" for i in range(symbols - len(names))]
    return config.with_symbols(tuple(names))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_engine(config: Config, symbols: int, ticks: int, warmup: int = 60) -> dict[str, object]:
    config = bench_config(config, symbols)
    engine = Engine(config)
    state = engine.init()
    compiled = compilations.start()  # XLA compilations from here to the last tick
    compile_seconds = engine.compile(state)
    source, accumulator = SimSource(config), Accumulator(config)
    start = config.start_time().timestamp()
    tick = config.engine.tick_seconds
    count = warmup + ticks
    snapshots = []
    for i in range(min(count, 64)):  # distinct market data, reused cyclically with advancing time
        accumulator.apply_all(source.events(start + i * tick))
        snapshots.append(accumulator.pack(start + i * tick))
    latencies = []
    for i in range(count):
        t = start + i * tick
        snapshot = snapshots[i % len(snapshots)]
        bar_index, progress, clock = tick_timing(config, t)
        snapshot = snapshot._replace(bar_index=bar_index, bar_progress=progress, clock=clock)
        began = time.perf_counter()
        state, output = engine.step(state, snapshot)
        jax.block_until_ready(output)
        if i >= warmup:
            latencies.append((time.perf_counter() - began) * 1e3)
    latency = np.asarray(latencies)
    return {
        "symbols": symbols,
        "cards": len(engine.cards),
        "compile_s": round(compile_seconds, 2),
        "tick_p50_ms": round(float(np.percentile(latency, 50)), 3),
        "tick_p99_ms": round(float(np.percentile(latency, 99)), 3),
        "ticks_per_s": round(1e3 / float(np.percentile(latency, 50)), 1),
        "symbol_ticks_per_s": round(symbols * 1e3 / float(np.percentile(latency, 50)), 0),
        "ticks": int(latency.size),
        "state_mb": round(engine.state_bytes() / 2**20, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "compilations": compiled.total,  # the tick's one, plus any recompilation while ticking
    }


def _history(symbols: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random-walk OHLCV, (series, bar) float64, for symbols x 3 timeframes."""
    rng = np.random.default_rng(seed)
    series = symbols * 3
    close = 100.0 * np.exp(np.cumsum(0.002 * rng.standard_normal((series, HISTORY)), axis=1))
    spread = np.abs(0.002 * rng.standard_normal((series, HISTORY))) * close
    return {
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": rng.lognormal(0.0, 1.0, (series, HISTORY)),
    }


def _talib_calls(talib, data: dict[str, np.ndarray], i: int, scale: float):
    """TA-Lib calls for series ``i``: one or more per card whose indicator TA-Lib ships, with that
    card's periods (``CLASSIC`` names the cards); each yields the array whose last value is read."""
    high, low, close, volume = data["high"][i], data["low"][i], data["close"][i], data["volume"][i]
    benchmark = data["close"][i % 3]  # the benchmark symbol's series on the same timeframe

    def p(period: int) -> int:
        return max(2, round(period * scale))

    yield talib.RSI(close, p(14))  # rsi
    yield talib.MACDEXT(close, p(12), 1, p(26), 1, p(9), 1)[2]  # macd
    yield talib.STOCHF(high, low, close, p(14), 3, 0)[0]  # stochastic
    yield talib.CCI(high, low, close, p(20))  # cci
    yield talib.TRIX(close, p(15))  # trix
    yield talib.ULTOSC(high, low, close, p(7), p(14), p(28))  # ultimate_oscillator
    yield talib.ROC(close, p(10))  # roc
    yield talib.ATR(high, low, close, p(14))  # atr_expansion (fast)
    yield talib.SMA(talib.TRANGE(high, low, close), p(100))  # atr_expansion (slow)
    yield talib.BBANDS(close, p(20), 2.0, 2.0, 0)[0]  # bollinger_percent_b, bollinger_pierce, squeeze
    yield talib.EMA(close, p(20))  # keltner_position (middle)
    yield talib.ATR(high, low, close, p(10))  # keltner_position (width), squeeze
    yield talib.MAX(high, p(20)) - talib.MIN(low, p(20))  # donchian_position
    yield talib.AROONOSC(high, low, p(25))  # aroon_oscillator
    yield talib.PLUS_DI(high, low, close, p(14)) - talib.MINUS_DI(
        high, low, close, p(14)
    )  # directional_movement
    yield talib.ADX(high, low, close, p(14))  # directional_movement (strength)
    for span in (12, 26, 50):  # ema_ribbon
        yield talib.EMA(close, p(span))
    yield talib.EMA(close, p(200))  # golden_cross (with the EMA50 above)
    yield talib.MIDPRICE(high, low, p(9)) - talib.MIDPRICE(high, low, p(26))  # ichimoku_base
    yield talib.LINEARREG_SLOPE(close, p(20)) / talib.STDDEV(close, p(20))  # linear_regression_t
    yield talib.MAX(high, p(22)) - 3.0 * talib.ATR(high, low, close, p(22))  # chandelier_trend
    yield talib.EMA(close, p(100))  # atr_stretch
    yield talib.RSI(close, 2)  # rsi2_exhaustion
    yield talib.EMA(close, p(50)) / talib.STDDEV(close, p(50))  # ema_deviation_z
    yield talib.MFI(high, low, close, volume, p(14))  # money_flow_index
    yield talib.EMA(talib.OBV(close, volume), p(20))  # obv_trend
    yield talib.ADOSC(high, low, close, volume, 3, p(20))  # chaikin_money_flow (accumulation/distribution)
    yield talib.BETA(close, benchmark, p(17))  # beta_implied_move
    yield talib.CORREL(close, benchmark, p(17))  # correlation_regime


def _talib_count(data: dict[str, np.ndarray]) -> int:
    """TA-Lib calls per series and lookback scale in the classic subset."""
    import talib

    return sum(1 for _ in _talib_calls(talib, data, 0, 1.0))


def _talib_tick(data: dict[str, np.ndarray], scales: tuple[float, ...] = (1.0,)) -> float:
    """The classic subset per series with TA-Lib, once per mode's lookback scale."""
    import talib

    total = 0.0
    for scale in scales:
        for i in range(data["close"].shape[0]):
            for series in _talib_calls(talib, data, i, scale):
                total += series[-1]
    return total


def _ema(x: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty_like(x)
    out[:, 0] = x[:, 0]
    for t in range(1, x.shape[1]):
        out[:, t] = out[:, t - 1] + alpha * (x[:, t] - out[:, t - 1])
    return out


def _rolling(x: np.ndarray, n: int) -> np.ndarray:
    """(series, windows, n) view of the last-n windows."""
    return np.lib.stride_tricks.sliding_window_view(x, n, axis=1)


def _numpy_tick(data: dict[str, np.ndarray]) -> float:
    high, low, close = data["high"], data["low"], data["close"]
    change = np.diff(close, axis=1)
    gain = _ema(np.maximum(change, 0.0), 1 / 14)
    loss = _ema(np.maximum(-change, 0.0), 1 / 14)
    rsi = 100.0 * gain / (gain + loss + 1e-12)
    macd = _ema(close, 2 / 13) - _ema(close, 2 / 27)
    histogram = macd - _ema(macd, 2 / 10)
    hh, ll = _rolling(high, 14).max(-1), _rolling(low, 14).min(-1)
    stoch = 100.0 * (close[:, 13:] - ll) / (hh - ll + 1e-12)
    typical = (high + low + close) / 3.0
    windows = _rolling(typical, 20)
    mean = windows.mean(-1)
    cci = (typical[:, 19:] - mean) / (0.015 * np.abs(windows - mean[..., None]).mean(-1) + 1e-12)
    trix = _ema(_ema(_ema(close, 2 / 16), 2 / 16), 2 / 16)
    prev = close[:, :-1]
    true_range = np.maximum(high[:, 1:], prev) - np.minimum(low[:, 1:], prev)
    pressure = close[:, 1:] - np.minimum(low[:, 1:], prev)
    uo = sum(
        w * _rolling(pressure, n).sum(-1)[:, -1] / _rolling(true_range, n).sum(-1)[:, -1]
        for w, n in ((4, 7), (2, 14), (1, 28))
    )
    roc = close[:, 10:] / close[:, :-10] - 1.0
    atr = _ema(true_range, 1 / 14)
    band = _rolling(close, 20)
    bollinger = band.mean(-1) + 2.0 * band.std(-1)
    ema = _ema(close, 2 / 21)
    donchian = _rolling(high, 20).max(-1) - _rolling(low, 20).min(-1)
    parts = (rsi, histogram, stoch, cci, trix, roc, atr, bollinger, ema, donchian)
    return float(sum(p[:, -1].sum() for p in parts) + uo.sum())


BASELINES = {
    # name: (function, lookback scales): the bot computes one parameter set; the engine computes
    # every mode's, so "talib-loop-all-modes" is the like-for-like comparison
    "talib-loop": (_talib_tick, (1.0,)),
    "talib-loop-all-modes": (_talib_tick, (0.5, 1.0, 2.0)),
    "numpy-vectorized": (_numpy_tick, (1.0,)),
}


def bench_baseline(name: str, symbols: int, repeats: int) -> dict[str, object]:
    data = _history(symbols)
    function, scales = BASELINES[name]
    function(data, scales) if function is _talib_tick else function(data)
    latencies = []
    for i in range(repeats):
        data["close"][:, -1] *= 1.0 + 1e-4 * (i + 1)  # a new tick changes the last bar
        began = time.perf_counter()
        function(data, scales) if function is _talib_tick else function(data)
        latencies.append((time.perf_counter() - began) * 1e3)
    return {
        "name": name,
        "symbols": symbols,
        "indicators": _talib_count(data) if function is _talib_tick else NUMPY_CLASSIC,
        "cards": len(CLASSIC) if function is _talib_tick else None,
        "modes": len(scales),
        "timeframes": 3,
        "history_bars": HISTORY,
        "tick_p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "repeats": repeats,
    }


def bench_zones(config: Config, symbols: int, calls: int = 50, seed: int = 0) -> dict[str, float]:
    """The zone engine alone (grid update with re-centring and 8 tiers deposited for every symbol,
    then the read-out and the cards' features), jitted with the engine's compiler options, on
    grids filled by 200 ticks of a random market moving ~0.4 % a tick. Medians in ms."""
    from bpjax.tick.engine import CPU_COMPILER_OPTIONS
    from bpjax.zones.grid import ZoneGrid, ZoneInputs

    grid = ZoneGrid(config.zones, config.engine.tick_seconds)
    rng = np.random.default_rng(seed)
    price = (100.0 * np.exp(rng.normal(size=symbols))).astype(np.float32)

    def market(price):
        def draw(scale):
            return (rng.random(symbols) * scale).astype(np.float32)

        return ZoneInputs(
            price, price * 0.997, price * 1.003, draw(1e5), draw(1.0), draw(1e3), draw(1e3),
            np.ones(symbols, bool), draw(1e6), price * 0.99, price * 1.01,
        )  # fmt: skip

    options = CPU_COMPILER_OPTIONS if jax.devices()[0].platform == "cpu" else {}
    state = grid.init(symbols)
    step = jax.jit(grid.step).lower(state, market(price)).compile(compiler_options=options)
    for _ in range(200):
        price = (price * np.exp(rng.normal(scale=0.004, size=symbols))).astype(np.float32)
        state, _ = step(state, market(price))
    read = jax.jit(lambda s, p: grid.features(grid.read(s, p), p))
    read = read.lower(state, price).compile(compiler_options=options)
    timings: dict[str, list[float]] = {"step": [], "read": []}
    for _ in range(calls):
        price = (price * np.exp(rng.normal(scale=0.004, size=symbols))).astype(np.float32)
        x = jax.device_put(market(price))
        began = time.perf_counter()
        state, _ = jax.block_until_ready(step(state, x))
        timings["step"].append(time.perf_counter() - began)
        began = time.perf_counter()
        jax.block_until_ready(read(state, x.price))
        timings["read"].append(time.perf_counter() - began)
    return {f"zone_{k}_p50_ms": round(1e3 * float(np.median(v)), 3) for k, v in timings.items()}


def run_bench(config: Config, symbol_counts: list[int], ticks: int, baseline_budget_s: float = 20.0) -> dict:
    """Engine and baselines for every symbol count; ratios are baseline p50 / engine p50."""
    results, baselines = [], []
    for symbols in symbol_counts:
        engine = bench_engine(config, symbols, ticks)
        engine.update(bench_zones(config, symbols))
        results.append(engine)
        for name in BASELINES:
            probe = bench_baseline(name, symbols, repeats=1)
            repeats = int(np.clip(baseline_budget_s * 1e3 / max(probe["tick_p50_ms"], 1e-3), 3, 200))
            baseline = bench_baseline(name, symbols, repeats=repeats)
            baseline["engine_speedup"] = round(baseline["tick_p50_ms"] / engine["tick_p50_ms"], 1)
            baselines.append(baseline)
    device = jax.devices()[0]
    return {
        "device": device.device_kind,
        "platform": device.platform,
        "jax": jax.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": os.cpu_count(),
        "config_hash": config.hash(),
        "host_heap": "tuned" if host.HEAP_TUNED else "system",  # see bpjax/host.py
        "results": results,
        "baselines": baselines,
    }


def format_report(report: dict) -> str:
    lines = [
        f"device {report['device']} ({report['platform']}), jax {report['jax']}, {report['cpu_count']} cpus, "
        f"host heap {report['host_heap']}",
        f"{'symbols':>8} {'cards':>6} {'compile s':>10} {'p50 ms':>9} {'p99 ms':>9} {'ticks/s':>9} "
        f"{'state MB':>9} {'RSS MB':>8}",
    ]
    for r in report["results"]:
        lines.append(
            f"{r['symbols']:>8} {r['cards']:>6} {r['compile_s']:>10.2f} {r['tick_p50_ms']:>9.3f} "
            f"{r['tick_p99_ms']:>9.3f} {r['ticks_per_s']:>9.1f} {r['state_mb']:>9.2f} "
            f"{r['peak_rss_mb']:>8.1f}"
        )
    for r in report["results"]:
        lines.append(
            f"zone engine alone, {r['symbols']} symbols: grid update {r['zone_step_p50_ms']:.3f} ms, "
            f"read-out {r['zone_read_p50_ms']:.3f} ms (p50, inside the tick above)"
        )
    lines.append(f"{'baseline':<20} {'symbols':>8} {'p50 ms':>10} {'engine is':>10}")
    for b in report["baselines"]:
        lines.append(
            f"{b['name']:<20} {b['symbols']:>8} {b['tick_p50_ms']:>10.2f} {b['engine_speedup']:>9.1f}x"
        )
    return "\n".join(lines)


# --- feed throughput ----------------------------------------------------------------------------
def _wire_frames(config: Config, seconds: int, seed: int = 11):
    """Per venue: the book snapshots a client starts from (one per symbol, as each venue sends
    them) and, per simulated second, the text frames the wire-level simulator sends."""
    import json

    from bpjax.core.defines import BINANCE, VENUES
    from bpjax.sim.wire import WireMarket, binance_combined

    market = WireMarket(config, seed=seed)
    start = config.start_time().timestamp()
    market.step(start)
    snapshots = {v: {s: market.snapshot_message(v, s, start) for s in config.symbols} for v in VENUES}
    out: dict[str, list[list[str]]] = {}
    for second in range(1, seconds + 1):
        for venue, frames in market.step(start + second).items():
            texts = []
            for key, payload in frames:
                text = json.dumps(payload, separators=(",", ":"))
                texts.append(binance_combined(key, text) if venue == BINANCE else text)
            out.setdefault(venue, []).append(texts)
    return snapshots, out


def _adapter(venue: str, config: Config, snapshots: dict[str, dict]):
    """The venue's adapter with every book loaded from the venue's own snapshot message."""
    import json

    from bpjax.core.defines import BINANCE, BYBIT
    from bpjax.feeds.binance import BinanceAdapter
    from bpjax.feeds.bybit import BybitAdapter
    from bpjax.feeds.okx import OkxAdapter, okx_instrument
    from bpjax.sim.wire import CONTRACT_VALUES

    if venue == BINANCE:
        adapter = BinanceAdapter(config.symbols)
        for symbol, body in snapshots.items():
            adapter.on_depth_snapshot(symbol, body, 0.0)
        return adapter
    if venue == BYBIT:
        adapter = BybitAdapter(config.symbols)
    else:
        contracts = {okx_instrument(s): CONTRACT_VALUES.get(s, 1.0) for s in config.symbols}
        adapter = OkxAdapter(config.symbols, contracts)
    for message in snapshots.values():
        adapter.feed(json.dumps(message), 0.0)
    return adapter


TRADE_MARKERS = {"binance": '"e":"aggTrade"', "bybit": '"topic":"publicTrade.', "okx": '"channel":"trades"'}


def _feed_pipeline(venue: str, config: Config, snapshots: dict, per_second: list[list[str]], repeats: int):
    """Best seconds over ``repeats`` for frames -> adapter -> columnar events -> accumulator, and
    for ``json.loads`` alone."""
    import json

    from bpjax.ingest.snapshot import Accumulator

    best, json_best, problems = float("inf"), float("inf"), 0
    start = config.start_time().timestamp()
    for _ in range(repeats):
        adapter, accumulator = _adapter(venue, config, snapshots), Accumulator(config)
        adapter.take(), adapter.flush_books(start)  # the snapshots themselves are not timed
        began = time.perf_counter()
        for second, texts in enumerate(per_second):
            for text in texts:
                adapter.feed(text, start + second)
            accumulator.apply_all(adapter.take() + adapter.flush_books(start + second))
        best = min(best, time.perf_counter() - began)
        problems = sum(h.malformed + h.unknown + h.gaps for h in adapter.health.values())
        began = time.perf_counter()
        for texts in per_second:
            for text in texts:
                json.loads(text)
        json_best = min(json_best, time.perf_counter() - began)
    return best, json_best, problems


def bench_feeds(config: Config, seconds: int = 120, repeats: int = 3) -> dict[str, object]:
    """Frames per second on one core, from the raw text frame to the accumulator: JSON decode,
    venue adapter (validation, sides, units, sequence checks, book upkeep), rows batched into
    one columnar event per kind per simulated second, book summaries, and the accumulator fold.
    The frames are what the wire-level simulator sends for the configured symbols (books start
    from each venue's snapshot); ``trades`` runs the trade frames alone. ``json_only`` is the
    floor: ``json.loads`` of the same frames. The Rust reference parses a trade in ~0.7 us."""
    snapshots, frames = _wire_frames(config, seconds)
    results = []
    for venue, per_second in frames.items():
        trades = [[t for t in texts if TRADE_MARKERS[venue] in t] for texts in per_second]
        for kind, selection in (("all", per_second), ("trades", trades)):
            count = sum(len(texts) for texts in selection)
            best, json_best, problems = _feed_pipeline(venue, config, snapshots[venue], selection, repeats)
            results.append(
                {
                    "venue": venue,
                    "frames": kind,
                    "count": count,
                    "frames_per_s": round(count / best),
                    "us_per_frame": round(best / count * 1e6, 2),
                    "json_only_us_per_frame": round(json_best / count * 1e6, 2),
                    "problems": problems,
                }
            )
    return {"symbols": len(config.symbols), "simulated_seconds": seconds, "results": results}


# --- replay throughput: the scan path, the per-tick path and the backtest-style peer -------------


def _store_bytes(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names
    )


def _talib_columnwise(fields: np.ndarray, valid: np.ndarray, config: Config, scales) -> tuple[float, int]:
    """TA-Lib over whole histories, one call per indicator and series (backtest style): the
    classic subset on every timeframe's bars (resampled from the ticks), per lookback scale.
    Returns (seconds, calls)."""
    import talib

    from bpjax.core.fields import FIELD_INDEX

    tick = config.engine.tick_seconds
    close = fields[:, :, FIELD_INDEX["close"]].astype(np.float64)
    high = fields[:, :, FIELD_INDEX["high"]].astype(np.float64)
    low = fields[:, :, FIELD_INDEX["low"]].astype(np.float64)
    volume = np.where(valid[:, :, FIELD_INDEX["volume"]], fields[:, :, FIELD_INDEX["volume"]], 0.0).astype(
        np.float64
    )
    started = time.perf_counter()
    calls = 0
    for tf in config.timeframes:
        n = max(1, tf.seconds // tick)
        usable = close.shape[0] // n * n
        shape = (usable // n, n, close.shape[1])
        data = {  # (series, bar) arrays, the layout TA-Lib wants per call
            "close": np.ascontiguousarray(close[:usable].reshape(shape)[:, -1].T),
            "high": np.ascontiguousarray(high[:usable].reshape(shape).max(axis=1).T),
            "low": np.ascontiguousarray(low[:usable].reshape(shape).min(axis=1).T),
            "volume": np.ascontiguousarray(volume[:usable].reshape(shape).sum(axis=1).T),
        }
        for scale in scales:
            for i in range(data["close"].shape[0]):
                for _ in _talib_calls(talib, data, i, scale):
                    calls += 1
    return time.perf_counter() - started, calls


def bench_replay(path: str, chunk: int = 256, tick_ticks: int = 2000) -> dict[str, object]:
    """Replay throughput of a store (``bpjax bench-replay``): the scan path over every tick, the
    per-tick path over the first ``tick_ticks`` ticks, TA-Lib column-wise over the same history
    (one and all lookback scales), and the store's size per symbol-day."""
    from bpjax.store.zarrstore import Store

    store = Store.open(path)
    config = store.config()
    engine = Engine(config)
    symbols, ticks = len(config.symbols), store.ticks
    started = time.perf_counter()
    fields = store.read("fields")
    valid = store.read("valid")
    chunks = [packed.copy() for _, packed in store.packed_chunks(engine.layout, chunk)]  # the tail padded
    chunks = np.concatenate(chunks)
    packed = chunks[:ticks]
    read_seconds = time.perf_counter() - started

    # scan: one compilation, chunks of ``chunk`` ticks (the tail padded)
    padded = len(chunks)
    state = engine.init()
    scan_compile = engine.compile_scan(state, chunk)
    started = time.perf_counter()
    for start in range(0, padded, chunk):
        state, outputs = engine.scan(state, jax.device_put(chunks[start : start + chunk], engine.device))
    jax.block_until_ready((state, outputs))
    scan_seconds = (time.perf_counter() - started) * ticks / padded

    # per tick: one engine call per tick, like a live run
    state = engine.init()
    tick_compile = engine.compile(state)
    count = min(tick_ticks, ticks)
    started = time.perf_counter()
    for k in range(count):
        state, output = engine.step(state, jax.device_put(packed[k], engine.device))
    jax.block_until_ready(state)
    tick_seconds = time.perf_counter() - started

    scales = tuple(mode.lookback_scale for mode in config.modes)
    one_seconds, one_calls = _talib_columnwise(fields, valid, config, scales[1:2])
    all_seconds, all_calls = _talib_columnwise(fields, valid, config, scales)
    times = store.read("time")
    days = (float(times[-1]) - float(times[0]) + config.engine.tick_seconds) / 86400.0
    size = _store_bytes(path)

    def rate(seconds: float, n: int) -> dict[str, float]:
        return {"ticks_per_s": round(n / seconds, 1), "symbol_ticks_per_s": round(n * symbols / seconds, 1)}

    return {
        "store": path,
        "ticks": ticks,
        "symbols": symbols,
        "tick_seconds": config.engine.tick_seconds,
        "days": round(days, 2),
        "cards": len(engine.cards),
        "modes": len(config.modes),
        "timeframes": len(config.timeframes),
        "read_and_pack_s": round(read_seconds, 3),
        "scan": {**rate(scan_seconds, ticks), "chunk": chunk, "compile_s": round(scan_compile, 2)},
        "per_tick": {
            **rate(tick_seconds, count),
            "ticks_measured": count,
            "compile_s": round(tick_compile, 2),
        },
        "peers": {
            "talib-columnwise": {
                **rate(one_seconds, ticks),
                "calls_per_series": one_calls // max(1, symbols),
                "lookback_scales": 1,
            },
            "talib-columnwise-all-modes": {
                **rate(all_seconds, ticks),
                "calls_per_series": all_calls // max(1, symbols),
                "lookback_scales": len(scales),
            },
        },
        "store_bytes": size,
        "store_bytes_per_symbol_day": round(size / max(symbols * days, 1e-9), 1),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "jax": jax.__version__},
        "host_heap": "tuned" if host.HEAP_TUNED else "system",
    }


def bench_learning(
    path: str,
    mode: str = "day",
    cache: str | None = None,
    window: int = 50_000,
    config_path: str | None = None,
) -> dict:
    """``bpjax bench-learn``: what learning costs on a store. The history replay (skipped with a
    valid ``cache``), one fit of the mode's weights on the whole recording (compile, then the
    steps), the ridge baseline's closed form on the same rows (the peer), a full walk-forward, and
    one online update on a full window of ``window`` rows (compile, then per update)."""
    from bpjax.core.config import load_config
    from bpjax.learn import offline as learn
    from bpjax.learn.online import step_settings
    from bpjax.store.zarrstore import Store

    settings = load_config(config_path).learning
    store = Store.open(path)
    before = os.path.getmtime(cache) if cache and os.path.exists(cache) else None
    started = time.perf_counter()
    history = learn.cached_history(store, cache)
    replay_s = time.perf_counter() - started
    hit = before is not None and os.path.getmtime(cache) == before
    m = history.mode_index(mode)
    target = learn.targets(history, m, settings)
    rows = learn.Rows.of(history, m, target.z, slice(None))

    def timed(work, repeat=1):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        return times

    fit_times = timed(lambda: learn.fit(rows, settings), repeat=3)  # the first compiles
    ridge_times = timed(lambda: learn.ridge(rows, settings.ridge), repeat=3)
    walk_s = timed(lambda: learn.walk_forward(history, mode, settings))[0]
    online = step_settings(settings)
    rng = np.random.default_rng(0)
    take = rng.choice(np.flatnonzero(rows.mask > 0), size=min(window, int(rows.mask.sum())), replace=False)
    windowed = learn.Rows(rows.signal[take], rows.confidence[take], rows.z[take], rows.mask[take])
    update_times = timed(
        lambda: learn.fit(
            windowed, online, initial=np.ones(rows.signal.shape[1]), max_change=settings.online_max_change
        ),
        repeat=6,
    )
    return {
        "store": path,
        "mode": mode,
        "ticks": len(history.time),
        "symbols": len(history.symbols),
        "rows": int(rows.mask.sum()),
        "categories": rows.signal.shape[1],
        "history_s": round(replay_s, 2),
        "history_cached": hit,
        "fit_steps": settings.steps,
        "fit_compile_and_run_s": round(fit_times[0], 3),
        "fit_s": round(float(np.median(fit_times[1:])), 3),
        "fit_step_ms": round(1e3 * float(np.median(fit_times[1:])) / settings.steps, 3),
        "ridge_ms": round(1e3 * float(np.median(ridge_times)), 3),
        "walk_forward_s": round(walk_s, 2),
        "folds": settings.folds,
        "online_window_rows": len(take),
        "online_steps": settings.online_steps,
        "online_update_first_s": round(update_times[0], 3),
        "online_update_ms": round(1e3 * float(np.median(update_times[1:])), 2),
    }
