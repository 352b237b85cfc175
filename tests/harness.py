"""Scenarios for tests: simulated snapshots run through an engine, with a reference rebuilt
from the same snapshots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import numpy as np

from bpjax.app.runner import warmup_times
from bpjax.app.sources import SimSource
from bpjax.core.config import Config, load_config
from bpjax.ingest.snapshot import Accumulator, Snapshot
from bpjax.tick.engine import Engine
from tests.reference import Bars, Slice, StreamPaths, zone_features

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT")


def small_config(**sections) -> Config:
    config = load_config().with_symbols(SYMBOLS)
    return config.replace(**sections) if sections else config


@dataclass(repr=False)
class Checkpoint:
    index: int
    time: float
    output: dict  # host copy of the engine's TickOutput at this tick
    bars: list[Bars]  # reference bars per timeframe, as of this tick
    snapshot: Snapshot
    ring: object  # host copy of the engine's ring buffers after this tick


@dataclass(repr=False)
class Scenario:
    config: Config
    engine: Engine
    times: list[float]
    snapshots: list[Snapshot]
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    final_bars: list[Bars] = field(default_factory=list)
    _slices: dict = field(default_factory=dict)
    _paths: dict = field(default_factory=dict)

    @classmethod
    def run(
        cls,
        engine: Engine,
        ticks: int,
        *,
        seed: int = 0,
        step: int | None = None,
        warmup: bool = True,
        checkpoints=(),
        perturb: Callable[[int, Snapshot], Snapshot] | None = None,
    ) -> Scenario:
        config = engine.config
        step = step or config.engine.tick_seconds
        start = config.start_time().timestamp()
        times = warmup_times(config, start, engine.lag) if warmup else []
        live_from = len(times)
        times += [start + i * step for i in range(ticks)]
        source, accumulator = SimSource(config, seed=seed), Accumulator(config)
        bars = [Bars(tf.seconds) for tf in config.timeframes]
        state = engine.init()
        scenario = cls(config, engine, times, [])
        wanted = {live_from + c for c in checkpoints}
        for i, t in enumerate(times):
            accumulator.apply_all(source.events(t))
            snapshot = accumulator.pack(t)
            if perturb is not None:
                snapshot = perturb(i, snapshot)
            scenario.snapshots.append(snapshot)
            finite = np.isfinite(snapshot.fields)
            values = np.where(finite, snapshot.fields, 0.0).astype(np.float64)
            for b in bars:
                b.add_tick(t, config.engine.tick_seconds, values, snapshot.valid & finite)
            state, output = engine.step(state, snapshot)
            if i == len(times) - 1:
                scenario.final_bars = bars
            if i in wanted:
                host = jax.device_get(output._asdict())
                scenario.checkpoints[i - live_from] = Checkpoint(
                    i - live_from, t, host, [_copy(b) for b in bars], snapshot, jax.device_get(state.ring)
                )
        return scenario

    def __repr__(self) -> str:
        return f"Scenario({len(self.times)} ticks, checkpoints {sorted(self.checkpoints)})"

    def slice(self, checkpoint: int, mode: int, tf: int) -> Slice:
        """The reference slice (memoized: its streams are shared by every card)."""
        key = (checkpoint, mode, tf)
        if key not in self._slices:
            self._slices[key] = self._make_slice(checkpoint, mode, tf)
        return self._slices[key]

    def _make_slice(self, checkpoint: int, mode: int, tf: int) -> Slice:
        point = self.checkpoints[checkpoint]
        scale = self.config.modes[mode].lookback_scale
        if (mode, tf) not in self._paths:
            self._paths[(mode, tf)] = StreamPaths(self.final_bars[tf], scale)
        snapshot = point.snapshot
        finite = np.isfinite(snapshot.fields)
        return Slice(
            point.bars[tf],
            self._paths[(mode, tf)],
            self.engine.lag,
            scale,
            np.where(finite, snapshot.fields, 0.0).astype(np.float64),
            snapshot.valid & finite,
            float(snapshot.bar_progress[tf]),
            self.config.universe.symbols.index(self.config.universe.benchmark),
            snapshot.clock.astype(np.float64),
            zone_features(point.output, self.config.zones.cascade_moves),
        )


def _copy(bars: Bars) -> Bars:
    return Bars(bars.seconds, {k: (v.copy(), m.copy()) for k, (v, m) in bars.bars.items()}, bars.last)
