"""The main job: feed market events into the engine tick by tick and publish per mode.

Each engine tick (``engine.tick_seconds``): the source's events for the tick are folded
into the accumulator, one snapshot is packed and stepped through the compiled tick,
and every mode whose publish cadence divides the tick time publishes: a JSONL record
and a refresh of the terminal table. Only publishing ticks read results back from
the device; other ticks never wait for it.

Before the first published tick the engine is warmed up on the source's recent
history, stepped coarsely where only slow timeframes still look back (one tick per
bar of the finest timeframe whose ring window reaches that far back).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import numpy as np

from bpjax.app.sources import SimSource
from bpjax.cards import REGISTRY, Registry
from bpjax.core.config import Config
from bpjax.core.defines import STATES, STATUS_BITS, STATUS_INSUFFICIENT_HISTORY, STATUS_STALE_PRICE
from bpjax.core.timefmt import iso
from bpjax.ingest.events import Trades
from bpjax.ingest.snapshot import Accumulator, Snapshot
from bpjax.store.zarrstore import CHUNK_TICKS, PHASE_LIVE, PHASE_WARMUP, Recorder, Store
from bpjax.tick.engine import Engine, EngineState, TickOutput

log = logging.getLogger(__name__)


def warmup_times(config: Config, start: float, lag: int) -> list[float]:
    """Tick end times before ``start`` covering ``simulator.warmup_minutes`` of history.

    A tick at offset t before start steps by the bar length of the finest timeframe whose
    ring window (``lag`` bars) still reaches t, capped at ``warmup_step_seconds``.
    """
    horizon = config.simulator.warmup_minutes * 60.0
    tick = config.engine.tick_seconds
    times: list[float] = []
    t = start - horizon
    t = math.floor(t / tick) * tick
    while t < start:
        behind = start - t
        reach = [tf.seconds for tf in config.timeframes if tf.seconds * lag >= behind]
        step = min(min(reach, default=config.timeframes[-1].seconds), config.simulator.warmup_step_seconds)
        step = max(tick, step - step % tick)
        t = min(t + step, start)
        if t < start:
            times.append(t)
    return times


class Published(NamedTuple):
    time: float
    mode: str
    record: dict


@dataclass
class RunSummary:
    ticks: int = 0
    warmup_ticks: int = 0
    published: int = 0
    compile_seconds: float = 0.0
    warmup_seconds: float = 0.0
    replay_seconds: float = 0.0
    tick_ms: list[float] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)
    status_counts: dict[str, int] = field(default_factory=dict)
    feeds: dict[str, object] = field(default_factory=dict)
    learning: dict[str, object] = field(default_factory=dict)  # the online loop's live version and events

    def as_dict(self) -> dict[str, object]:
        latency = {}
        if self.tick_ms:  # per-tick latencies (the scan path has none: a chunk is one call)
            latency = {
                "host_tick_p50_ms": round(float(np.percentile(self.tick_ms, 50)), 3),
                "host_tick_p99_ms": round(float(np.percentile(self.tick_ms, 99)), 3),
            }
        return {
            "ticks": self.ticks,
            "warmup_ticks": self.warmup_ticks,
            "published": self.published,
            "compile_s": round(self.compile_seconds, 3),
            "warmup_s": round(self.warmup_seconds, 3),
            **({"replay_s": round(self.replay_seconds, 3)} if self.replay_seconds else {}),
            **latency,
            "rejected_rows": self.rejected,
            "status_counts": self.status_counts,
            **({"feeds": self.feeds} if self.feeds else {}),
            **({"learning": self.learning} if self.learning else {}),
        }


class Runner:
    """Drives one engine from one source; publishes records to sinks."""

    def __init__(
        self,
        config: Config,
        *,
        source=None,
        registry: Registry = REGISTRY,
        engine: Engine | None = None,
        with_cards: bool = False,
        sinks: tuple[Callable[[Published], None], ...] = (),
        recorder: Recorder | None = None,
        learner=None,
        weights: np.ndarray | None = None,
    ):
        """``learner``: a :class:`bpjax.learn.online.OnlineLearner`; its live weights drive the engine and
        every live tick feeds it. ``weights`` (mode, cat): category weights to run on instead of
        the config's (a learner's take precedence)."""
        self.config = config
        self.engine = engine or Engine(config, registry)
        self.learner = learner
        # the parameters every tick runs on: the config's, with the weights in force
        self.params = self.engine.params
        if learner is not None:
            weights = learner.weights
        if weights is not None:
            self.params = self.params.with_category_weights(weights)
        self.weights_version: int | None = None  # the learner's version that produced the last output
        self._unlearned: tuple | None = None  # the live tick the learner has yet to see
        self._replay_weights: np.ndarray | None = None  # the recorded weights a replay runs on now
        self.source = source or SimSource(config)
        self.accumulator = Accumulator(config)
        self.with_cards = with_cards
        self.sinks = list(sinks)
        self.recorder = recorder
        self.summary = RunSummary()
        self.keep = True  # build published records even without sinks (tick() returns them)
        self.state: EngineState | None = None
        self.last_output: TickOutput | None = None
        self.symbols = config.symbols
        self.modes = config.mode_names
        self.categories = self.engine.categories
        self.card_names = self.engine.card_names
        self.timeframes = config.timeframe_names

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self, first_tick: float) -> None:
        """Compile, then warm up on the history before ``first_tick``."""
        self.state = self.engine.init()
        self.summary.compile_seconds = self.engine.compile(self.state, self.params)
        log.info("compiled the tick in %.1f s (%s)", self.summary.compile_seconds, self.engine.device)
        started = time.perf_counter()
        if not getattr(self.source, "simulated", True):
            # live data: warm up on the venue's history (REST backfill), one tick per bar close
            history = self.source.backfill(first_tick) if hasattr(self.source, "backfill") else {}
            for t, events in history.items():
                self.accumulator.apply_all(events)
                self._advance(t, self.accumulator.pack(t), PHASE_WARMUP)
                self.summary.warmup_ticks += 1
            if history:  # live trades the backfilled bars already hold must not count twice
                last = max(history)
                for event in self.source.events(time.time()):
                    event = event.after(last) if isinstance(event, Trades) else event
                    if event is not None:
                        self.accumulator.apply(event)
            jax.block_until_ready(self.state)
            self.summary.warmup_seconds = time.perf_counter() - started
            log.info("backfilled %d bars in %.1f s", self.summary.warmup_ticks, self.summary.warmup_seconds)
            return
        for t in warmup_times(self.config, first_tick, self.engine.lag):
            self._step(t, PHASE_WARMUP)
            self.summary.warmup_ticks += 1
        jax.block_until_ready(self.state)
        self.summary.warmup_seconds = time.perf_counter() - started
        log.info("warmed up on %d ticks in %.1f s", self.summary.warmup_ticks, self.summary.warmup_seconds)

    def _step(self, t: float, phase: int = PHASE_LIVE) -> TickOutput:
        self.accumulator.apply_all(self.source.events(t))
        return self._advance(t, self.accumulator.pack(t), phase)

    def _advance(self, t: float, snapshot: Snapshot, phase: int) -> TickOutput:
        """One engine step on a snapshot; recorded when a recorder is attached."""
        if self.learner is not None:
            self.weights_version = self.learner.version  # the version whose weights this tick runs on
        self.state, output = self.engine.step(self.state, snapshot, self.params)
        if self.recorder is not None:
            self.recorder.tick(
                t, phase, snapshot, output, self.params.category_weights, self.weights_version or 0
            )
        if self.learner is not None:
            if phase == PHASE_WARMUP:
                self._learn(t, output, phase)  # prices only: the volatility the targets divide by
            else:
                self._unlearned = (t, output, phase)  # after publishing: off the tick's latency
        return output

    def _learn_after_publish(self) -> None:
        if self._unlearned is not None:
            self._learn(*self._unlearned)
            self._unlearned = None

    def _learn(self, t: float, output: TickOutput, phase: int) -> None:
        """Feed the online learner (after the tick, on the host); a new live version's weights
        apply from the next tick (traced parameters: no recompilation)."""
        live = phase != PHASE_WARMUP
        wanted = {"price": output.price, "status": output.status}
        if live and self.learner.takes_rows(t):
            wanted.update(signal=output.category_signal, confidence=output.category_confidence)
        host = jax.device_get(wanted)
        usable = (host["price"] > 0) & (host["status"] & STATUS_STALE_PRICE == 0)
        warm = host["status"] & STATUS_INSUFFICIENT_HISTORY == 0
        signal, confidence = host.get("signal"), host.get("confidence")
        if self.learner.observe(t, host["price"], usable, signal, confidence, warm, live):
            self.params = self.params.with_category_weights(self.learner.weights)
        self.summary.learning = {"version": self.learner.version, "events": self.learner.events[-20:]}

    def tick(self, t: float) -> list[Published]:
        """One live tick ending at ``t``; returns what it published."""
        started = time.perf_counter()
        published = self._publish(t, self._step(t), started)
        self._learn_after_publish()
        return published

    def replay(self, store: Store, speed: str = "max", progress=None) -> RunSummary:
        """Drive the engine from a recording: every recorded snapshot, warm-up included, so the
        state and therefore every published output equal the recorded run's. ``speed``:
        ``max`` as fast as possible, ``realtime`` at the recorded spacing of live ticks."""
        self.state = self.engine.init()
        self.keep = False  # records go to the sinks only
        self.summary.compile_seconds = self.engine.compile(self.state, self.params)
        previous: float | None = None
        started = time.perf_counter()
        ran_on = _recorded_weights(store)
        for done, (t, phase, snapshot) in enumerate(store.snapshots(), start=1):
            if progress is not None and done % CHUNK_TICKS == 0:
                progress(done)
            if ran_on is not None:
                self._run_on(*next(ran_on))
            if phase == PHASE_WARMUP:
                self._advance(t, snapshot, phase)
                self.summary.warmup_ticks += 1
                continue
            if speed == "realtime" and previous is not None:
                time.sleep(max(0.0, t - previous))
            previous = t
            tick_started = time.perf_counter()
            self._publish(t, self._advance(t, snapshot, phase), tick_started)
            self._learn_after_publish()
        jax.block_until_ready(self.state)
        self.summary.replay_seconds = time.perf_counter() - started
        if progress is not None:
            progress(store.ticks)
        return self.summary

    def replay_scan(self, store: Store, chunk: int = 256, progress=None) -> RunSummary:
        """The fast path over a recording: chunks of ``chunk`` ticks through the jitted step inside
        ``lax.scan`` (one call per chunk, no per-tick Python on the device side), then the
        published records of the chunk from its stacked outputs. The last chunk is padded with
        copies of the final snapshot so one compilation serves the whole store; padded ticks are
        never published. Every chunk runs on per-tick category weights: the recorded ones, or
        for a store recorded without them the runner's weights on every tick, so both are one
        compiled program. ``progress(done_ticks)`` is called after every chunk."""
        self.state = self.engine.init()
        self.keep = False  # records go to the sinks only
        started = time.perf_counter()
        done = 0
        recorded = store.has_recorded_weights
        shape = self.params.category_weights.shape
        for block, packed in store.packed_chunks(self.engine.layout, chunk):
            versions = None
            if recorded:  # every tick on the weights it ran on
                weights, versions = store.recorded_weights(done, done + len(block.time))
                weights = np.concatenate([weights, np.repeat(weights[-1:], chunk - len(weights), axis=0)])
            else:
                weights = np.broadcast_to(np.asarray(self.params.category_weights), (chunk, *shape))
            if not self.summary.compile_seconds:
                self.summary.compile_seconds = self.engine.compile_scan(
                    self.state, chunk, self.params, cards=self.with_cards
                )
                started += self.summary.compile_seconds
            self.state, outputs = self.engine.scan(
                self.state,
                jax.device_put(packed, self.engine.device),
                self.params,
                cards=self.with_cards,
                weights=jax.device_put(np.ascontiguousarray(weights, np.float32), self.engine.device),
            )
            host = jax.device_get(outputs)
            host["categories"] = host.pop("category_scores")
            for k in range(len(block.time)):
                if versions is not None:
                    self.weights_version = int(versions[k]) if versions[k] > 0 else None
                if block.phase[k] == PHASE_WARMUP:
                    self.summary.warmup_ticks += 1
                    continue
                self._emit(float(block.time[k]), lambda k=k, host=host: {n: v[k] for n, v in host.items()})
            done += len(block.time)
            if progress is not None:
                progress(done)
        self.summary.replay_seconds = time.perf_counter() - started
        return self.summary

    def _run_on(self, weights: np.ndarray, version: int) -> None:
        """The next tick runs on these (recorded) weights, under this learner version (0: none)."""
        if not np.array_equal(weights, self._replay_weights):
            self._replay_weights = weights
            self.params = self.params.with_category_weights(weights)
        self.weights_version = int(version) if version > 0 else None

    def _publish(self, t: float, output: TickOutput, started: float) -> list[Published]:
        self.last_output = output
        published = self._emit(t, lambda: self._fetch(output))
        self.summary.tick_ms.append((time.perf_counter() - started) * 1e3)
        return published

    def _emit(self, t: float, fetch: Callable[[], dict[str, np.ndarray]]) -> list[Published]:
        """Publish the modes due at ``t``; ``fetch`` reads the tick's outputs only when one is due."""
        due = [m for m in self.config.modes if round(t) % m.publish_seconds == 0]
        published = []
        if due:
            host = fetch()
            for mode in due:
                # a record is built only for someone to read it (a sink or a caller of tick())
                record = (
                    self.record(t, self.modes.index(mode.name), host) if self.sinks or self.keep else None
                )
                published.append(Published(t, mode.name, record))
            self._count_status(host["status"])
        self.summary.ticks += 1
        for item in published:
            self.summary.published += 1
            for sink in self.sinks:
                sink(item)
        return published

    def run(self, ticks: int | None = None, start: float | None = None) -> RunSummary:
        """Run ``ticks`` ticks on simulated time as fast as possible, or forever in real time."""
        tick_seconds = self.config.engine.tick_seconds
        simulated = getattr(self.source, "simulated", True)
        if ticks is not None and simulated:
            first = self.config.start_time().timestamp() if start is None else start
            self.start(first)
            for i in range(ticks):
                self.tick(first + i * tick_seconds)
        else:
            if hasattr(self.source, "start"):
                self.source.start(wait=False)  # connect (and backfill) while the tick compiles
            self.start(math.ceil(time.time() / tick_seconds) * tick_seconds)
            t = math.ceil(time.time() / tick_seconds) * tick_seconds
            done = 0
            while ticks is None or done < ticks:
                delay = t - time.time()
                if delay > 0:
                    time.sleep(delay)
                self.tick(t)
                done += 1
                t += tick_seconds
        self.summary.rejected = dict(self.accumulator.rejected)
        if hasattr(self.source, "health"):
            self.summary.feeds = self.source.health()
        return self.summary

    # --- results ------------------------------------------------------------------------------
    def _fetch(self, output: TickOutput) -> dict[str, np.ndarray]:
        wanted = {
            "bias": output.bias,
            "confidence": output.confidence,
            "conflicted": output.conflicted,
            "state": output.state,
            "price": output.price,
            "categories": output.category_scores,
            "size": output.size,
            "stop": output.stop,
            "agreement": output.agreement,
            "timeframe_bias": output.timeframe_bias,
            "status": output.status,
        }
        if self.with_cards:
            wanted["card_direction"] = output.card_direction
            wanted["card_strength"] = output.card_strength
            wanted["card_confidence"] = output.card_confidence
        return jax.device_get(wanted)

    def _count_status(self, status: np.ndarray) -> None:
        for name, bit in STATUS_BITS.items():
            hits = int(np.count_nonzero(status & bit))
            if hits:
                self.summary.status_counts[name] = self.summary.status_counts.get(name, 0) + hits

    def record(self, t: float, mode: int, host: dict[str, np.ndarray]) -> dict:
        """The published JSON object for one (tick, mode)."""
        symbols = {}
        for i, symbol in enumerate(self.symbols):
            entry = {
                "bias": round(float(host["bias"][i, mode]), 3),
                "confidence": round(float(host["confidence"][i, mode]), 3),
                "conflicted": bool(host["conflicted"][i, mode]),
                "state": STATES[int(host["state"][i, mode])],
                "price": float(host["price"][i]),
                "categories": {
                    c: round(float(host["categories"][i, mode, k]), 3) for k, c in enumerate(self.categories)
                },
                "size": round(float(host["size"][i, mode]), 5),
                "stop": round(float(host["stop"][i, mode]), 6),
                "agreement": round(float(host["agreement"][i, mode]), 4),
                "timeframes": {
                    tf: round(float(host["timeframe_bias"][i, mode, k]), 3)
                    for k, tf in enumerate(self.timeframes)
                },
                "flags": [name for name, bit in STATUS_BITS.items() if int(host["status"][i]) & bit],
            }
            if self.with_cards:
                entry["cards"] = {
                    name: [
                        round(float(host["card_direction"][i, mode, k]), 4),
                        round(float(host["card_strength"][i, mode, k]), 4),
                        round(float(host["card_confidence"][i, mode, k]), 4),
                    ]
                    for k, name in enumerate(self.card_names)
                }
            symbols[symbol] = entry
        return {
            "time": iso(t),
            "mode": self.modes[mode],
            "config_hash": self.config.hash(),
            "symbols": symbols,
            **({"weights_version": self.weights_version} if self.weights_version is not None else {}),
        }


def _recorded_weights(store: Store) -> Iterator[tuple[np.ndarray, int]] | None:
    """(weights, version) of every recorded tick, read a chunk at a time; None if not recorded."""
    if not store.has_recorded_weights:
        return None

    def ticks():
        for start in range(0, store.ticks, CHUNK_TICKS):
            weights, versions = store.recorded_weights(start, min(start + CHUNK_TICKS, store.ticks))
            yield from zip(weights, versions, strict=True)

    return ticks()
