"""``bpjax bench``: what a tick costs, against what users run today, in one process.

For each symbol count: compile time (ahead-of-time, separate from running), steady-state
tick latency p50/p99 (pack + one device transfer + the tick, after ``block_until_ready``),
peak memory and device kind. Snapshots come from the embedded simulator, prepared
beforehand so the event folding is not counted; the clock advances by the engine tick,
so 1 m / 5 m / 1 h bars close on their real cadence and p99 includes bar-close ticks.

Baselines compute, for the same symbols and the three timeframes, the classic
indicators the engine's cards include (RSI, MACD, stochastic %K, CCI, TRIX, ultimate
oscillator, ROC, ATR, Bollinger bands, EMA, Donchian channel) over a 512-bar history:

* ``talib-loop``: TA-Lib called per series in a Python loop, recomputing each tick (the
  hand-rolled bot style), one parameter set;
* ``talib-loop-all-modes``: the same for each mode's lookback scale (0.5, 1, 2), which is
  what the engine computes: the like-for-like comparison;
* ``numpy-vectorized``: NumPy over all series at once, full recompute (float64), one set.

The engine does strictly more per tick (every card for three modes, quality, aggregation).
"""

from __future__ import annotations

import os
import platform
import resource
import time

import jax
import numpy as np

from bpjax import host
from bpjax.config import Config
from bpjax.engine import Engine
from bpjax.runner import SimSource
from bpjax.snapshot import Accumulator, tick_timing

HISTORY = 512
CLASSIC = ("RSI", "MACD", "STOCHF", "CCI", "TRIX", "ULTOSC", "ROC", "ATR", "BBANDS", "EMA", "MAX", "MIN")


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
        "compilations": engine.compilations,
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


def _talib_tick(data: dict[str, np.ndarray], scales: tuple[float, ...] = (1.0,)) -> float:
    """The classic subset per series with TA-Lib, once per mode's lookback scale."""
    import talib

    def p(period: int, scale: float) -> int:
        return max(2, round(period * scale))

    total = 0.0
    for scale in scales:
        for i in range(data["close"].shape[0]):
            high, low, close = data["high"][i], data["low"][i], data["close"][i]
            total += talib.RSI(close, p(14, scale))[-1]
            total += talib.MACDEXT(close, p(12, scale), 1, p(26, scale), 1, p(9, scale), 1)[2][-1]
            total += talib.STOCHF(high, low, close, p(14, scale), 3, 0)[0][-1]
            total += talib.CCI(high, low, close, p(20, scale))[-1]
            total += talib.TRIX(close, p(15, scale))[-1]
            total += talib.ULTOSC(high, low, close, p(7, scale), p(14, scale), p(28, scale))[-1]
            total += talib.ROC(close, p(10, scale))[-1]
            total += talib.ATR(high, low, close, p(14, scale))[-1]
            total += talib.BBANDS(close, p(20, scale), 2.0, 2.0, 0)[0][-1]
            total += talib.EMA(close, p(20, scale))[-1]
            total += talib.MAX(high, p(20, scale))[-1] - talib.MIN(low, p(20, scale))[-1]
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
        "indicators": len(CLASSIC),
        "modes": len(scales),
        "timeframes": 3,
        "history_bars": HISTORY,
        "tick_p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "repeats": repeats,
    }


def run_bench(config: Config, symbol_counts: list[int], ticks: int, baseline_budget_s: float = 20.0) -> dict:
    """Engine and baselines for every symbol count; ratios are baseline p50 / engine p50."""
    results, baselines = [], []
    for symbols in symbol_counts:
        engine = bench_engine(config, symbols, ticks)
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
    lines.append(f"{'baseline':<20} {'symbols':>8} {'p50 ms':>10} {'engine is':>10}")
    for b in report["baselines"]:
        lines.append(
            f"{b['name']:<20} {b['symbols']:>8} {b['tick_p50_ms']:>10.2f} {b['engine_speedup']:>9.1f}x"
        )
    return "\n".join(lines)
