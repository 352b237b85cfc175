"""The lifter: run every registered card on every (sym, mode, tf) slice with vmap.

Card authors write for one slice; this module is the only place that batches.
Slice cards are vmapped over tf, mode and sym; cross-sectional cards over tf and
mode, with the whole symbol axis inside. Both write into one card axis in registry
order.

Cards read window features and streams computed for all cards beforehand
(:mod:`bpjax.windows`, :mod:`bpjax.streams`), so what is lifted here is
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
from bpjax.fields import FIELD_INDEX
from bpjax.streams import StreamBank
from bpjax.types import Array, Bool, Float
from bpjax.windows import WindowBank

WARM_WEIGHT = float(1.0 - np.exp(-1.0))


class CardBatch(NamedTuple):
    """Every card's output for every slice (card-major: each card's readings are contiguous)."""

    direction: Float[Array, "card mode tf sym"]
    strength: Float[Array, "card mode tf sym"]
    confidence: Float[Array, "card mode tf sym"]  # after data quality
    value: Float[Array, "card mode tf sym"]
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


def _apply(
    specs: tuple[CardSpec, ...],
    streams: StreamBank,
    windows: WindowBank,
    layout,
    lag: int,
    benchmark: int,
    data: SliceData,
):
    """Run ``specs`` on one slice (or one cross-section): (card, 4, ...) raw outputs."""
    results = []
    for spec in specs:
        params = {name: data.card_params[offset] for name, offset in layout[spec.name].items()}
        declared = set(spec.windows)
        x = CardInput(
            name=spec.name,
            windows=data.windows,
            counts=data.counts,
            streams=data.streams,
            committed=data.committed,
            latest=data.latest,
            fresh_mask=data.fresh,
            scale=data.scale,
            window_length=lag,
            progress=data.progress,
            bar_seconds=data.bar_seconds,
            params=params,
            stream_index={s: streams.index[s] for s in spec.streams},
            window_index={w: windows.index[w] for w in declared},
            benchmark=benchmark,
            clock=data.clock,
        )
        out = spec.fn(x)
        shape = data.windows.shape[1:]
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
) -> CardBatch:
    """Every card on every (sym, mode, tf) slice, in registry order along the last axis.

    ``data`` holds: windows/counts (mode, window, tf, sym), streams/committed
    (3, stream, mode, tf, sym), latest/fresh (field, sym), scale (mode,), progress and
    bar_seconds (tf,), card_params (mode, param), clock (4,). ``lag`` is the ring length (caps lookbacks);
    ``benchmark`` the benchmark symbol's index on the symbol axis.
    """
    cards = registry.cards
    layout, _ = registry.param_layout()
    slice_specs = tuple(s for s in cards if not s.cross_section)
    cross_specs = tuple(s for s in cards if s.cross_section)
    outputs: list[Array] = []
    order: list[CardSpec] = []

    if slice_specs:
        fn = lambda d: _apply(slice_specs, streams, windows, layout, lag, benchmark, d)  # noqa: E731
        # axes peel off outside in: sym (innermost in memory), then mode, then tf
        over_sym = SliceData(3, 3, 4, 4, 1, 1, None, None, None, None, None)
        over_mode = SliceData(0, 0, 2, 2, None, None, 0, None, None, 0, None)
        over_tf = SliceData(1, 1, 2, 2, None, None, None, 0, 0, None, None)
        lifted = jax.vmap(
            jax.vmap(jax.vmap(fn, (over_tf,), out_axes=2), (over_mode,), out_axes=2), (over_sym,), out_axes=4
        )
        outputs.append(lifted(data))  # (card, 4, mode, tf, sym)
        order += slice_specs
    if cross_specs:
        fn = lambda d: _apply(cross_specs, streams, windows, layout, lag, benchmark, d)  # noqa: E731
        over_mode = SliceData(0, 0, 2, 2, None, None, 0, None, None, 0, None)
        over_tf = SliceData(1, 1, 2, 2, None, None, None, 0, 0, None, None)
        lifted = jax.vmap(jax.vmap(fn, (over_tf,), out_axes=2), (over_mode,), out_axes=2)
        outputs.append(lifted(data))  # (card, 4, mode, tf, sym)
        order += cross_specs

    position = {spec.name: i for i, spec in enumerate(order)}
    permutation = np.array([position[spec.name] for spec in cards])
    raw = jnp.concatenate(outputs) if len(outputs) > 1 else outputs[0]
    if not np.array_equal(permutation, np.arange(len(cards))):
        raw = raw[permutation]

    # sanitize and apply data quality, batched over every card at once
    finite = jnp.all(jnp.isfinite(raw), axis=1)
    raw = jnp.where(finite[:, None], raw, 0.0)
    quality = QualityLayout(cards, streams, windows).quality(data, lag)
    quality = jnp.where(finite, quality, 0.0)
    return CardBatch(
        direction=jnp.clip(raw[:, 0], -1.0, 1.0),
        strength=jnp.clip(raw[:, 1], 0.0, 1.0),
        confidence=jnp.clip(raw[:, 2], 0.0, 1.0) * quality,
        value=raw[:, 3],
        quality=quality,
        nonfinite=~finite,
    )
