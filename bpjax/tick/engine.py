"""The engine: ``init(config) -> EngineState`` and one jitted ``step(state, snapshot, params)``.

Static versus traced, the one rule: structure is static and compiled in (symbols,
timeframes, modes, the card list, ring length); every number is traced and passed
in :class:`~bpjax.tick.params.Params` (category weights, lookback scales, timeframe
weights, card parameters, thresholds), so tuning and learning never recompile.

A tick reads top to bottom::

    sanitize snapshot -> ring buffers (open bar of every timeframe)
    -> streams (commit closed bars, fold the open bar provisionally)
    -> zone engine (liquidation grids, zones, targets; bpjax.zones.grid)
    -> cards (every card x sym x mode x tf, vmapped; liquidation and zones cards read the zone
       engine) -> aggregation -> outputs

Nothing inside the tick raises or syncs with the host: data problems become
per-symbol status bits (``bpjax.core.defines.STATUS_*``) that the host loop reads.
The step is compiled once, ahead of time, for the engine's shapes; the state
buffers are donated, so the ring buffers are updated in place. Calling it with
other shapes raises instead of silently recompiling.
"""

from __future__ import annotations

import functools
import os
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bpjax.cards import REGISTRY, Registry
from bpjax.core.config import Config
from bpjax.core.defines import (
    STATUS_IMPLAUSIBLE_INPUT,
    STATUS_INSUFFICIENT_HISTORY,
    STATUS_NONFINITE_CARD,
    STATUS_NONFINITE_INPUT,
    STATUS_STALE_DERIVATIVES,
    STATUS_STALE_PRICE,
)
from bpjax.core.fields import FIELD_INDEX, LOWER_BOUNDS, NUM_FIELDS, UPPER_BOUNDS
from bpjax.core.types import Array, Bool, Float, Int
from bpjax.features.price import RETURNS
from bpjax.features.streams import StreamBank
from bpjax.features.windows import RingView, WindowCache
from bpjax.ingest.snapshot import Snapshot, SnapshotLayout
from bpjax.tick import ring as ring_buffers
from bpjax.tick.aggregate import Aggregate, aggregate
from bpjax.tick.lifter import WARM_WEIGHT, SliceData, run_cards
from bpjax.tick.params import Params, init_params
from bpjax.zones.grid import ZoneGrid, ZoneInputs, ZoneReading, ZoneState

INSUFFICIENT_WARMTH = 0.5  # mean warm-up of the price history below this flags the symbol

# XLA:CPU compiler options for the tick. The tick is ~800 small fused kernels, where XLA's
# newer MLIR fusion emitters cost more than the classic LLVM IR emitters both to compile and
# to run (measured on the reference machine, 21 symbols, 173 cards: compile 75-82 s -> 45-48 s,
# tick p50 5-6 ms -> 3.8 ms; see BENCHMARKS.md). Other backends compile with their defaults.
CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


class EngineState(NamedTuple):
    ring: ring_buffers.Ring
    windows: WindowCache  # prefix statistics of the closed bars, per timeframe
    streams: Float[Array, "3 stream mode tf sym"]  # committed (last closed bar) mean/var/weight
    memory: Float[Array, "3 mode sym"]  # bias memory: fast, slow, weight
    tick: Int[Array, ""]
    zones: ZoneState  # the liquidation zone engine's grids
    open_interest: Float[Array, " sym"]  # last open interest seen (NaN: none yet), for its change


class TickOutput(NamedTuple):
    bias: Float[Array, "sym mode"]  # composite bias in [-100, 100]
    confidence: Float[Array, "sym mode"]  # [0, 100]
    conflicted: Bool[Array, "sym mode"]
    state: Int[Array, "sym mode"]  # index into bpjax.core.defines.STATES
    transition: Bool[Array, "sym mode"]
    deceleration: Bool[Array, "sym mode"]
    exhaustion: Bool[Array, "sym mode"]
    agreement: Float[Array, "sym mode"]  # [0, 1]
    category_scores: Float[Array, "sym mode cat"]  # [-100, 100]
    # the composite's per-category sums: bias = 100 sum_cat w S / sum_cat |w| C (what training reads)
    category_signal: Float[Array, "sym mode cat"]
    category_confidence: Float[Array, "sym mode cat"]
    timeframe_bias: Float[Array, "sym mode tf"]  # [-100, 100]
    size: Float[Array, "sym mode"]  # signed notional / equity
    stop: Float[Array, "sym mode"]  # fraction of price
    price: Float[Array, " sym"]  # last price seen (0 if never)
    status: Int[Array, " sym"]  # STATUS_* bits
    card_direction: Float[Array, "sym mode card"]  # timeframes mixed
    card_strength: Float[Array, "sym mode card"]
    card_confidence: Float[Array, "sym mode card"]
    zones: ZoneReading  # heatmap, zones, targets, imbalance, cascade (symbol axis last)
    predicted_liquidations: Float[Array, "2 sym"]  # long / short levels price traded through this tick
    zone_source: Int[Array, " sym"]  # what new positions were read from: ZONE_SOURCES
    metrics: dict[str, Array]


# what the zone engine read new positions from, per symbol and tick (``TickOutput.zone_source``)
ZONE_SOURCES = ("none", "open_interest", "volume")

# what the scan path keeps of every tick: everything a published record reads
SCAN_OUTPUTS = (
    "bias",
    "confidence",
    "conflicted",
    "state",
    "agreement",
    "category_scores",
    "timeframe_bias",
    "size",
    "stop",
    "price",
    "status",
)
SCAN_CARD_OUTPUTS = ("card_direction", "card_strength", "card_confidence")
SCAN_CATEGORY_OUTPUTS = ("category_signal", "category_confidence")


def enable_compilation_cache(path: str) -> None:
    """Keep compiled ticks on disk (JAX's persistent cache): later runs of the same config and
    code load the executable instead of compiling. An empty path leaves the cache off."""
    if path:
        jax.config.update("jax_compilation_cache_dir", os.path.expanduser(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def resolve_device(platform: str) -> jax.Device:
    """The device the tick runs on: ``auto`` takes JAX's default (a GPU when one is installed)."""
    if platform == "auto":
        return jax.devices()[0]
    try:
        return jax.devices(platform)[0]
    except RuntimeError as error:
        raise RuntimeError(
            f"engine.platform = {platform!r} but JAX has no such device ({error}); "
            f"available: {', '.join(sorted({d.platform for d in jax.devices()}))}"
        ) from None


class Engine:
    """Static structure for one config and card registry, and the compiled tick."""

    def __init__(
        self,
        config: Config,
        registry: Registry = REGISTRY,
        device: jax.Device | None = None,
        *,
        card_slices: bool = False,
    ):
        """``card_slices`` adds every card's per-(sym, mode, tf) reading to ``metrics["cards"]`` and
        every window feature to ``metrics["windows"]`` (for tests and diagnostics; it makes the
        output much larger)."""
        if len(registry) == 0:
            raise ValueError("the card registry is empty")
        self.config = config
        self.registry = registry
        self.benchmark = config.universe.symbols.index(config.universe.benchmark)
        self.card_slices = card_slices
        self.device = device or resolve_device(config.engine.platform)
        self.cards = registry.cards
        self.card_names = registry.names
        self.categories = registry.categories
        self.bank = StreamBank([RETURNS] + [s for spec in self.cards for s in spec.streams])
        self.volatility_stream = self.bank.index[RETURNS]
        max_scale = max(mode.lookback_scale for mode in config.modes)
        self.lag = ring_buffers.window_length(registry.max_window(max_scale))
        self.windows = registry.window_bank(self.lag, max_scale)
        self.membership = registry.category_matrix()
        tick = config.engine.tick_seconds
        # timeframes finer than the tick (bar-only history on a coarse tick) run on one bar per
        # tick and are masked: no card confidence, no weight in the mix, not the conflict's shortest
        self.timeframe_seconds = np.array([max(tf.seconds, tick) for tf in config.timeframes], np.float32)
        self.timeframe_usable = np.array([tf.seconds >= tick for tf in config.timeframes])
        self.shortest_timeframe = int(np.argmax(self.timeframe_usable))
        self.shape = {
            "sym": len(config.symbols),
            "mode": len(config.modes),
            "tf": len(config.timeframes),
            "lag": self.lag,
            "field": NUM_FIELDS,
            "card": len(self.cards),
            "cat": len(self.categories),
            "stream": len(self.bank),
            "window": len(self.windows),
        }
        self.layout = SnapshotLayout(self.shape["sym"], self.shape["tf"])
        self.zone_grid = ZoneGrid(config.zones, config.engine.tick_seconds)
        self.volume_stand_in = np.float32(config.zones.volume_stand_in)
        self._params = jax.device_put(init_params(config, registry), self.device)
        self._jitted = jax.jit(self._step, donate_argnums=(0,))
        # every compiled program of this engine, in one place: the tick under key "tick", the
        # scans under ("scan", chunk length, cards, zones_of, categories); with their compile seconds
        self._programs: dict[object, object] = {}
        self.program_compile_seconds: dict[object, float] = {}

    @property
    def params(self) -> Params:
        """The config's parameters (read-only): what a tick runs on unless the caller passes
        others. Learned or replayed weights are passed to :meth:`step` / :meth:`scan`, never
        written here."""
        return self._params

    @property
    def compile_seconds(self) -> float | None:
        return self.program_compile_seconds.get("tick")

    # --- state --------------------------------------------------------------------------------
    def init(self) -> EngineState:
        n = self.shape
        state = EngineState(
            ring=ring_buffers.init_ring(n["tf"], n["sym"], n["lag"], n["field"]),
            windows=self.windows.init_cache(n["tf"], n["sym"]),
            streams=jnp.zeros((3, n["stream"], n["mode"], n["tf"], n["sym"]), jnp.float32),
            memory=jnp.zeros((3, n["mode"], n["sym"]), jnp.float32),
            tick=jnp.zeros((), jnp.int32),
            zones=self.zone_grid.init(n["sym"]),
            open_interest=jnp.full((n["sym"],), jnp.nan, jnp.float32),
        )
        return jax.device_put(state, self.device)

    def state_bytes(self) -> int:
        return int(sum(leaf.nbytes for leaf in jax.tree_util.tree_leaves(self.init())))

    # --- the tick -----------------------------------------------------------------------------
    def _step(self, state: EngineState, packed: Array, params: Params) -> tuple[EngineState, TickOutput]:
        snapshot = self.layout.unpack(packed)
        # sanitize: a non-finite value is masked, never folded; then (field, sym), the symbol
        # axis innermost like every device array
        # and so is a finite value outside its unit's physical range (fields.UNIT_BOUNDS)
        finite = jnp.isfinite(snapshot.fields)
        plausible = (snapshot.fields >= LOWER_BOUNDS[None, :]) & (snapshot.fields <= UPPER_BOUNDS[None, :])
        nonfinite_input = jnp.any(snapshot.valid & ~finite, axis=-1)
        implausible_input = jnp.any(snapshot.valid & finite & ~plausible, axis=-1)
        usable = finite & plausible
        valid = (snapshot.valid & usable).T
        fields = jnp.where(usable, snapshot.fields, 0.0).astype(jnp.float32).T

        # ring buffers: the open bar of every timeframe
        step = ring_buffers.advance(state.ring, fields, valid, snapshot.bar_index)

        # streams: commit the bar that closed (only timeframes that closed one), then fold the
        # open bar provisionally
        alphas = self.bank.alphas(params.lookback_scale)
        committed = self._commit(state.streams, step, alphas)
        x_open, ok_open = self.bank.series_values(step.open_bar, step.previous)  # (stream, tf, sym)
        provisional = self.bank.update(committed, x_open, ok_open, alphas)

        # window features: refresh the closed-bar cache of timeframes that closed a bar, then
        # combine it with the open bar
        view = RingView(
            step.ring.bars,
            step.ring.valid,
            step.ring.slot_bar,
            snapshot.bar_index,
            step.open_bar,
            step.previous,
            step.new_bar,
        )
        window_cache = self.windows.refresh(state.windows, view)
        windows = self.windows.compute(window_cache, view, params.lookback_scale)

        # the liquidation zone engine (bpjax.zones.grid) on the tick's own values; the liquidation and
        # zones cards read it
        price = step.open_bar.values[0, FIELD_INDEX["close"]]
        price = jnp.where(price > 0, price, 0.0)
        zone_inputs, zone_source, open_interest = self._zone_inputs(fields, valid, state.open_interest)
        zones, zone_flows = self.zone_grid.step(state.zones, zone_inputs)
        zone_reading = self.zone_grid.read(zones, price)

        # every card on every (sym, mode, tf)
        timeframe_seconds = jnp.asarray(self.timeframe_seconds)
        data = SliceData(
            windows=windows.value,
            counts=windows.count,
            streams=provisional,
            committed=committed,
            latest=fields,
            fresh=valid,
            scale=params.lookback_scale,
            progress=snapshot.bar_progress,
            bar_seconds=timeframe_seconds,
            card_params=params.card_params,
            clock=snapshot.clock,
            zones=self.zone_grid.features(zone_reading, price),
        )
        cards = run_cards(
            self.registry, self.bank, self.windows, data, self.lag, self.benchmark, values=self.card_slices
        )

        if not self.timeframe_usable.all():
            usable = jnp.asarray(self.timeframe_usable)
            cards = cards._replace(confidence=jnp.where(usable[None, None, :, None], cards.confidence, 0.0))
            weights = jnp.where(usable[None, :], params.timeframe_weights, 0.0)
            weights = weights / jnp.maximum(jnp.sum(weights, axis=1, keepdims=True), 1e-12)
            params = params._replace(timeframe_weights=weights)

        # aggregation
        # per-bar return volatility, capped at 100 % per bar so garbage prices cannot blow up stops
        bar_volatility = jnp.sqrt(jnp.clip(provisional[1, self.volatility_stream], 0.0, 1.0))
        result: Aggregate = aggregate(
            cards,
            params,
            state.memory,
            jnp.asarray(self.membership),
            bar_volatility,
            timeframe_seconds,
            shortest=self.shortest_timeframe,
        )

        # per-symbol status bits
        close = FIELD_INDEX["close"]
        derivatives = [FIELD_INDEX[name] for name in ("mark", "funding_rate", "open_interest")]
        # insufficient history: the price history is still warming up (the return stream of the
        # usable timeframes, mean over modes and timeframes), whatever other feeds the data has
        warm = jnp.clip(provisional[2, self.volatility_stream] / WARM_WEIGHT, 0.0, 1.0)  # (mode, tf, sym)
        if not self.timeframe_usable.all():
            warm = warm[:, np.flatnonzero(self.timeframe_usable)]
        warmed = jnp.mean(warm, axis=(0, 1))
        nonfinite_card = jnp.any(cards.nonfinite, axis=(0, 1, 2))
        status = (
            jnp.where(nonfinite_input, STATUS_NONFINITE_INPUT, 0)
            | jnp.where(~valid[close], STATUS_STALE_PRICE, 0)
            | jnp.where(~jnp.all(valid[np.array(derivatives)], axis=0), STATUS_STALE_DERIVATIVES, 0)
            | jnp.where(warmed < INSUFFICIENT_WARMTH, STATUS_INSUFFICIENT_HISTORY, 0)
            | jnp.where(nonfinite_card, STATUS_NONFINITE_CARD, 0)
            | jnp.where(implausible_input, STATUS_IMPLAUSIBLE_INPUT, 0)
        ).astype(jnp.int32)

        new_state = EngineState(
            step.ring, window_cache, committed, result.memory, state.tick + 1, zones, open_interest
        )
        output = TickOutput(
            bias=result.bias,
            confidence=result.confidence,
            conflicted=result.conflicted,
            state=result.state,
            transition=result.transition,
            deceleration=result.deceleration,
            exhaustion=result.exhaustion,
            agreement=result.agreement,
            category_scores=result.category_scores,
            category_signal=result.category_signal,
            category_confidence=result.category_confidence,
            timeframe_bias=result.timeframe_bias,
            size=result.size,
            stop=result.stop,
            price=price,
            status=status,
            card_direction=result.card_direction,
            card_strength=result.card_strength,
            card_confidence=result.card_confidence,
            zones=zone_reading,
            predicted_liquidations=zone_flows.removed,
            zone_source=zone_source,
            metrics={
                "mean_quality": jnp.mean(cards.quality),
                "nonfinite_cards": jnp.sum(cards.nonfinite, dtype=jnp.int32),
                "new_bar": step.new_bar,
            },
        )
        if self.card_slices:
            output.metrics["cards"] = cards
            output.metrics["windows"] = windows
        return new_state, output

    def _zone_inputs(self, fields, valid, previous_oi):
        """The zone engine's view of this tick, from the sanitized (field, sym) values. New positions
        are the rise in open interest x price; without open interest, ``volume_stand_in`` of the
        traded notional (``zone_source`` says which). The long share of them is the mean of what is
        known of the taker-buy share and the top traders' long share, else one half."""
        f = FIELD_INDEX

        def ok(name):
            return valid[f[name]]

        def value(name):
            return fields[f[name]]

        # the price: the last trade, else the mark, else the forced orders' average price (a
        # liquidation log alone still places its liquidations and centres the grid)
        liq_prices = []
        for side in ("long", "short"):
            qty, notional = value(f"liq_{side}_qty"), value(f"liq_{side}_notional")
            known = ok(f"liq_{side}_qty") & ok(f"liq_{side}_notional") & (qty > 0) & (notional > 0)
            liq_prices.append(jnp.where(known, notional / jnp.where(known, qty, 1.0), 0.0))
        liq_price = jnp.maximum(liq_prices[0], liq_prices[1])
        has_close = ok("close") & (value("close") > 0)
        has_mark = ok("mark") & (value("mark") > 0)
        price = jnp.where(has_close, value("close"), jnp.where(has_mark, value("mark"), liq_price))
        has_price = price > 0
        low = jnp.where(has_close & ok("low"), value("low"), price)
        high = jnp.where(has_close & ok("high"), value("high"), price)
        has_oi = ok("open_interest")
        oi = value("open_interest")
        grown = jnp.where(has_oi & jnp.isfinite(previous_oi), jnp.maximum(oi - previous_oi, 0.0) * price, 0.0)
        has_volume = ok("volume")
        traded = jnp.where(
            ok("turnover"), value("turnover"), jnp.where(has_volume, value("volume") * price, 0.0)
        )
        new_notional = jnp.where(has_oi, grown, jnp.where(has_volume, traded * self.volume_stand_in, 0.0))
        source = jnp.where(has_oi, 1, jnp.where(has_volume, 2, 0)).astype(jnp.int32)
        volume = value("volume")
        taker_known = ok("buy_volume") & has_volume & (volume > 0)
        taker = jnp.where(taker_known, value("buy_volume") / jnp.where(taker_known, volume, 1.0), 0.0)
        ratio = value("ls_top_positions")
        top_known = ok("ls_top_positions") & (ratio > 0)
        top = jnp.where(top_known, ratio / (1.0 + ratio), 0.0)
        known = taker_known.astype(jnp.float32) + top_known.astype(jnp.float32)
        long_share = jnp.where(known > 0, (taker + top) / jnp.maximum(known, 1.0), 0.5)
        inputs = ZoneInputs(
            price=price,
            low=low,
            high=high,
            new_notional=new_notional,
            long_share=long_share,
            liq_long=jnp.where(ok("liq_long_notional"), value("liq_long_notional"), 0.0),
            liq_short=jnp.where(ok("liq_short_notional"), value("liq_short_notional"), 0.0),
            liq_long_price=liq_prices[0],
            liq_short_price=liq_prices[1],
            valid=has_price,
            volume=jnp.where(has_price, traded, 0.0),
        )
        return inputs, source, jnp.where(has_oi, oi, previous_oi)

    def _commit(self, streams, step: ring_buffers.RingStep, alphas):
        """Fold each timeframe's just-closed bar into its streams (skipped on ticks that close none)."""

        def fold_closed(streams):
            x, ok = self.bank.series_values(step.closed, step.before_closed)  # (stream, tf, sym)
            return self.bank.update(streams, x, ok & step.new_bar[None, :, None], alphas)

        return jax.lax.cond(jnp.any(step.new_bar), fold_closed, lambda streams: streams, streams)

    def compile(self, state: EngineState, params: Params | None = None) -> float:
        """Compile the step for this engine's shapes (once); returns the seconds it took."""
        if "tick" not in self._programs:
            params = self.params if params is None else params
            packed = jax.ShapeDtypeStruct((self.layout.size,), jnp.float32)
            self._build("tick", self._jitted.lower(state, packed, params))
        return self.program_compile_seconds["tick"]

    def _build(self, key, lowered) -> None:
        """Compile a lowered program once and keep it under ``key``."""
        started = time.perf_counter()
        options = CPU_COMPILER_OPTIONS if self.device.platform == "cpu" else {}
        self._programs[key] = lowered.compile(compiler_options=options)
        self.program_compile_seconds[key] = time.perf_counter() - started

    def put(self, snapshot: Snapshot) -> Array:
        """Pack a snapshot and transfer it: one buffer, one device transfer."""
        return jax.device_put(self.layout.pack(snapshot), self.device)

    def step(
        self, state: EngineState, snapshot: Snapshot | Array, params: Params | None = None
    ) -> tuple[EngineState, TickOutput]:
        """One tick. ``state`` is donated: use the returned state, never the one passed in.
        ``snapshot`` is a :class:`Snapshot` or a buffer already packed by :meth:`put`."""
        params = self.params if params is None else params
        packed = self.put(snapshot) if isinstance(snapshot, Snapshot) else snapshot
        if "tick" not in self._programs:
            self.compile(state, params)
        return self._programs["tick"](state, packed, params)

    # --- the fast path: many ticks in one call ------------------------------------------------
    def scan(
        self,
        state: EngineState,
        packed: Array,
        params: Params | None = None,
        *,
        cards: bool = False,
        zones_of: int | str | None = None,
        categories: bool = False,
        weights: Array | None = None,
    ) -> tuple[EngineState, dict[str, Array]]:
        """Step through a chunk of packed snapshots ``(T, layout.size)`` with ``lax.scan``: one call,
        no per-tick Python. Returns the state after the chunk and the per-tick outputs of
        :data:`SCAN_OUTPUTS` (plus ``card_direction``, ``card_strength`` and ``card_confidence``
        when ``cards``; plus every zone reading of symbol ``zones_of`` as ``zone_<field>``, or with
        ``zones_of="heatmaps"`` every symbol's ``zone_heat``, ``zone_prices`` and ``zone_source``;
        plus, when ``categories``, the per-category sums the composite bias is made of,
        ``category_signal`` and ``category_confidence`` (sym, mode, cat): what the trainer caches),
        each with a leading time axis.

        ``weights`` (T, mode, cat): the category weights of every tick (a replay of a run whose
        weights changed); left out, ``params``' weights are broadcast to every tick. Either way
        it is the same compiled program (the weights are always a per-tick scan input), so a
        replay with and without recorded weights runs the same code. The same step body as
        :meth:`step`; ``state`` is donated. Compiled once per (chunk length, cards, zones_of,
        categories)."""
        params = self.params if params is None else params
        ticks = int(packed.shape[0])
        if weights is None:
            weights = jnp.broadcast_to(params.category_weights, (ticks, *params.category_weights.shape))
        self.compile_scan(state, ticks, params, cards=cards, zones_of=zones_of, categories=categories)
        key = self._scan_key(ticks, cards, zones_of, categories)
        return self._programs[key](state, packed, params, weights)

    @staticmethod
    def _scan_key(ticks, cards, zones_of, categories) -> tuple:
        return ("scan", int(ticks), bool(cards), zones_of, bool(categories))

    def compile_scan(
        self,
        state: EngineState,
        ticks: int,
        params: Params | None = None,
        *,
        cards: bool = False,
        zones_of: int | str | None = None,
        categories: bool = False,
    ) -> float:
        """Compile :meth:`scan` for chunks of ``ticks`` ticks (once); returns the seconds it took."""
        key = self._scan_key(ticks, cards, zones_of, categories)
        if key not in self._programs:
            params = self.params if params is None else params
            chunk = jax.ShapeDtypeStruct((ticks, self.layout.size), jnp.float32)
            statics = dict(cards=bool(cards), zones_of=zones_of, categories=bool(categories))
            jitted = jax.jit(functools.partial(self._scan, **statics), donate_argnums=(0,))
            per_tick = jax.ShapeDtypeStruct((ticks, *params.category_weights.shape), jnp.float32)
            self._build(key, jitted.lower(state, chunk, params, per_tick))
        return self.program_compile_seconds[key]

    def _scan(
        self,
        state: EngineState,
        packed: Array,
        params: Params,
        weights: Array,
        *,
        cards: bool,
        zones_of: int | str | None,
        categories: bool,
    ):
        names = (
            SCAN_OUTPUTS
            + (SCAN_CARD_OUTPUTS if cards else ())
            + (SCAN_CATEGORY_OUTPUTS if categories else ())
        )

        def body(state, xs):
            row, tick_weights = xs
            state, output = self._step(state, row, params._replace(category_weights=tick_weights))
            kept = {name: getattr(output, name) for name in names}
            if zones_of == "heatmaps":
                kept.update(
                    zone_heat=output.zones.heat,
                    zone_prices=output.zones.prices,
                    zone_source=output.zone_source,
                )
            elif zones_of is not None:
                for name, value in output.zones._asdict().items():
                    kept[f"zone_{name}"] = value[..., zones_of]
                kept["zone_source"] = output.zone_source[zones_of]
            return state, kept

        return jax.lax.scan(body, state, (packed, weights))

    def step_uncompiled(self, state: EngineState, snapshot: Snapshot, params: Params | None = None):
        """The same tick run op by op without jit (for tests: jit == no-jit)."""
        params = self.params if params is None else params
        with jax.disable_jit():
            return self._step(state, jnp.asarray(self.layout.pack(snapshot)), params)
