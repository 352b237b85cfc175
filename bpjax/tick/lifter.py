"""The lifter: run every registered card on every (sym, mode, tf) slice at once.

Card authors write elementwise, as for one slice; this module is the only place that
batches. Each card is called once on arrays that broadcast to (mode, tf, sym) —
what ``vmap`` of the one-slice function would compute, without the batch-axis
transposes vmap inserts around every card (they cost more than the cards' own
arithmetic: ~200 of ~260 ms per tick at 2,100 symbols with vmap). Cross-sectional
cards get the same arrays and reduce over the trailing symbol axis. All cards write
into one card axis in registry order.

Cards read window features and streams computed for all cards beforehand
(:mod:`bpjax.features.windows`, :mod:`bpjax.features.streams`), so what is lifted here is
elementwise arithmetic that XLA fuses across cards.

The lifter also applies data quality to every card's confidence, from the card's
declared inputs, lookback and streams:

    quality = coverage x fresh x warm
    coverage = (bars where every input is present, among the last n) / n,
               n = round(lookback x mode scale), capped at the ring length
    fresh    = 1 if every input is valid in this tick's snapshot, else 0
    warm     = clip(weight / (1 - 1/e), 0, 1) of the card's slowest stream (longest span):
               1 once it has seen about one span of bars

and replaces a non-finite output by a neutral reading (direction 0, strength 0,
confidence 0, value 0) with a flag, so nothing a card does can put NaN/inf into
the aggregation.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bpjax.cards.base import CardInput
from bpjax.cards.registry import CardSpec, Registry, coverage_window
from bpjax.core.fields import FIELD_INDEX
from bpjax.core.types import Array, Bool, Float
from bpjax.features.streams import StreamBank
from bpjax.features.windows import WindowBank

WARM_WEIGHT = float(1.0 - np.exp(-1.0))


class CardBatch(NamedTuple):
    """Every card's output for every slice (card-major: each card's readings are contiguous)."""

    direction: Float[Array, "card mode tf sym"]
    strength: Float[Array, "card mode tf sym"]
    confidence: Float[Array, "card mode tf sym"]  # after data quality
    value: Float[Array, "card mode tf sym"] | None  # None when run without values
    quality: Float[Array, "card mode tf sym"]
    nonfinite: Bool[Array, "card mode tf sym"]


class SliceData(NamedTuple):
    """Inputs of the lifted function; leading axes vary with the vmap level."""

    windows: Array  # (window, ...) window features of this mode
    counts: Array  # (window, ...)
    streams: Array  # (3, stream, ...)
    committed: Array
    latest: Array  # (field, ...)
    fresh: Array
    scale: Array  # ()
    progress: Array  # ()
    bar_seconds: Array  # ()
    card_params: Array  # (param,)
    clock: Array  # (4,) sin/cos of the UTC hour of day and day of week
    zones: Array  # (zone feature, sym) the zone engine's reading (bpjax.zones.grid.ZONE_FEATURES)


def _apply(
    specs: tuple[CardSpec, ...],
    streams: StreamBank,
    windows: WindowBank,
    layout,
    lag: int,
    benchmark: int,
    data: SliceData,
    batched: bool = True,
    parts: int = 4,
):
    """Run ``specs`` on the whole (mode, tf, sym) batch at once: (card, parts, mode, tf, sym)
    outputs (``batched``), or on one (mode, tf) cross-section of (sym,) arrays (under vmap).
    ``parts`` = 3 leaves out ``value``, so XLA drops whatever only the value needed.

    Every array a card reads broadcasts to (mode, tf, sym): features and streams are sliced
    out of their tables, per-mode numbers (scale, parameters) come as (mode, 1, 1), per-
    timeframe ones (progress, bar length) as (1, tf, 1), this tick's fields as (1, 1, sym).
    Card arithmetic is elementwise, so this is the vmap of the one-slice function, without
    the batch-axis transposes vmap would insert around every card."""
    if batched:
        shape = data.windows.shape[:1] + data.windows.shape[2:]  # (mode, tf, sym)
        scale, card_params = data.scale[:, None, None], data.card_params[:, :, None, None]
        progress, bar_seconds = data.progress[None, :, None], data.bar_seconds[None, :, None]
        latest, fresh = data.latest[:, None, None, :], data.fresh[:, None, None, :]
        zones = data.zones[:, None, None, :]
    else:
        shape = data.windows.shape[1:]  # (sym,)
        scale, card_params = data.scale, data.card_params
        progress, bar_seconds = data.progress, data.bar_seconds
        latest, fresh = data.latest, data.fresh
        zones = data.zones
    results = []
    for spec in specs:
        params = {
            name: card_params[:, offset] if batched else card_params[offset]
            for name, offset in layout[spec.name].items()
        }
        x = CardInput(
            name=spec.name,
            windows=data.windows,
            counts=data.counts,
            streams=data.streams,
            committed=data.committed,
            latest=latest,
            fresh_mask=fresh,
            scale=scale,
            window_length=lag,
            progress=progress,
            bar_seconds=bar_seconds,
            params=params,
            stream_index={s: streams.index[s] for s in spec.streams},
            window_index={w: windows.index[w] for w in spec.windows},
            benchmark=benchmark,
            clock=data.clock,
            zones=zones if spec.zones else None,
            feature_axis=1 if batched else 0,
        )
        out = spec.fn(x)[:parts]
        results.append(jnp.stack([jnp.broadcast_to(jnp.asarray(part, jnp.float32), shape) for part in out]))
    return jnp.stack(results)


class QualityLayout:
    """Static gather tables for the data-quality factor of every card."""

    def __init__(self, cards: tuple[CardSpec, ...], streams: StreamBank, windows: WindowBank):
        self.lookback = np.array([spec.lookback for spec in cards], np.float32)
        self.has_inputs = np.array([bool(spec.inputs) for spec in cards])
        self.coverage = np.array(
            [windows.index[coverage_window(s)] if s.inputs else 0 for s in cards], np.int32
        )
        width = max((len(spec.inputs) for spec in cards), default=1) or 1
        self.inputs = np.array(  # padded by repeating the first input: neutral for all()
            [
                [FIELD_INDEX[n] for n in (spec.inputs + spec.inputs[:1] * width)[:width]]
                if spec.inputs
                else [0] * width
                for spec in cards
            ],
            np.int32,
        )
        # warm-up is limited by the card's slowest stream: the longest span (then the deepest)
        self.has_streams = np.array([bool(spec.streams) for spec in cards])
        self.slowest = np.array(
            [
                streams.index[max(s.streams, key=lambda t: (t.span, t.depth))] if s.streams else 0
                for s in cards
            ],
            np.int32,
        )

    def quality(self, data: SliceData, lag: int) -> Float[Array, "card mode tf sym"]:
        """coverage x fresh x warm for every card, batched over (mode, tf, sym)."""
        n = jnp.clip(jnp.round(self.lookback[:, None] * data.scale[None, :]), 1.0, lag - 1.0)  # (card, mode)
        counts = jnp.swapaxes(jnp.take(data.counts, self.coverage, axis=1), 0, 1)  # (card, mode, tf, sym)
        coverage = counts / n[:, :, None, None]
        fresh = jnp.all(data.fresh[self.inputs], axis=1)[:, None, None, :]  # (card, 1, 1, sym)
        quality = jnp.where(self.has_inputs[:, None, None, None], jnp.where(fresh, coverage, 0.0), 1.0)
        warm = jnp.clip(data.streams[2][self.slowest] / WARM_WEIGHT, 0.0, 1.0)
        quality = quality * jnp.where(self.has_streams[:, None, None, None], warm, 1.0)
        return jnp.clip(quality, 0.0, 1.0)


def run_cards(
    registry: Registry,
    streams: StreamBank,
    windows: WindowBank,
    data: SliceData,
    lag: int,
    benchmark: int = 0,
    values: bool = True,
) -> CardBatch:
    """Every card on every (sym, mode, tf) slice, in registry order along the last axis.

    ``data`` holds: windows/counts (mode, window, tf, sym), streams/committed
    (3, stream, mode, tf, sym), latest/fresh (field, sym), scale (mode,), progress and
    bar_seconds (tf,), card_params (mode, param), clock (4,), zones (zone feature, sym). ``lag``
    is the ring length (caps lookbacks); ``benchmark`` the benchmark symbol's index on the symbol
    axis. Without ``values`` the cards' raw readings are not computed (``value`` is None): the
    aggregation never reads them, and computing them cost ~9 % of the 2,100-symbol tick (A/B in
    BENCHMARKS.md). A card is then flagged non-finite on its direction, strength and confidence
    alone.
    """
    parts = 4 if values else 3
    cards = registry.cards
    layout, _ = registry.param_layout()
    slice_specs = tuple(s for s in cards if not s.cross_section)
    cross_specs = tuple(s for s in cards if s.cross_section)
    outputs: list[Array] = []
    order: list[tuple[CardSpec, ...]] = []
    if slice_specs:
        outputs.append(_apply(slice_specs, streams, windows, layout, lag, benchmark, data, parts=parts))
        order.append(slice_specs)
    if cross_specs:
        # cross-sections reduce the symbol axis, written with (sym,) arrays: vmapped over (mode, tf)
        fn = lambda d: _apply(cross_specs, streams, windows, layout, lag, benchmark, d, False, parts)  # noqa: E731
        over_mode = SliceData(0, 0, 2, 2, None, None, 0, None, None, 0, None, None)
        over_tf = SliceData(1, 1, 2, 2, None, None, None, 0, 0, None, None, None)
        lifted = jax.vmap(jax.vmap(fn, (over_tf,), out_axes=2), (over_mode,), out_axes=2)
        outputs.append(lifted(data))  # (card, 4, mode, tf, sym)
        order.append(cross_specs)
    # back to registry order: one concatenate of contiguous runs of the parts (no gather)
    source = {spec.name: (part, row) for part, specs in enumerate(order) for row, spec in enumerate(specs)}
    located = [source[spec.name] for spec in cards]
    runs, start = [], 0
    for k in range(1, len(located) + 1):
        if k == len(located) or located[k] != (located[k - 1][0], located[k - 1][1] + 1):
            part, first = located[start]
            runs.append(outputs[part][first : located[k - 1][1] + 1])
            start = k
    raw = jnp.concatenate(runs) if len(runs) > 1 else runs[0]

    # sanitize and apply data quality, batched over every card at once
    finite = jnp.all(jnp.isfinite(raw), axis=1)
    raw = jnp.where(finite[:, None], raw, 0.0)
    quality = QualityLayout(cards, streams, windows).quality(data, lag)
    quality = jnp.where(finite, quality, 0.0)
    return CardBatch(
        direction=jnp.clip(raw[:, 0], -1.0, 1.0),
        strength=jnp.clip(raw[:, 1], 0.0, 1.0),
        confidence=jnp.clip(raw[:, 2], 0.0, 1.0) * quality,
        value=raw[:, 3] if values else None,
        quality=quality,
        nonfinite=~finite,
    )
