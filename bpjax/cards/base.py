"""What a card sees and returns, and the masked window operations card authors use.

A card is a pure function ``fn(x: CardInput) -> CardOutput`` written elementwise, as
for ONE ``(sym, mode, tf)`` slice; the lifter (:mod:`bpjax.tick.lifter`) calls it once on
the whole batch, every array broadcasting to ``(mode, tf, sym)`` (the vmap of the
slice function, without vmap's transposes). A card must therefore not assume a
rank: combine what it reads elementwise, stack extra axes in front or at the end
and reduce them explicitly. Cross-sectional cards reduce over the trailing axis,
the symbol axis (:func:`wmean`, :func:`wstd`, ``a[..., x.benchmark][..., None]``).
Card authors never write batching code,
never branch in Python on data, and never raise: a slice without enough history
gets low confidence through masks, and the lifter replaces any NaN/inf output by
a neutral reading with a status flag.

Output conventions (every card's docstring states its own reading):

* ``direction`` in [-1, 1]: positive means the card expects price to rise.
* ``strength`` in [0, 1]: how far the reading is from neutral.
* ``confidence`` in [0, 1]: the card's own trust in its reading. The lifter
  multiplies it by data quality (input coverage over the lookback, freshness of
  this tick's inputs, warm-up of the streams), so cards only state what is
  specific to them.
* ``value``: the raw reading in the card's natural unit (RSI points, a z-score,
  a rate), for explanation and for checks against TA-Lib.

Cards read history through declared features: streams (:mod:`bpjax.features.streams`,
exponentially weighted, O(1) per bar) and window features (:mod:`bpjax.features.windows`,
rolling sums/extremes/lags computed for all cards at once). What a card does
itself is elementwise arithmetic on those scalars, which XLA fuses across cards.

z-score readings map through :func:`from_z`: ``direction = tanh(z)`` and
``strength = tanh(|z| / 2)``.
"""

from __future__ import annotations

__all__ = [  # the card author's toolkit: card types, and the masked operations of bpjax.features.ops
    "CardInput",
    "CardOutput",
    "count",
    "from_z",
    "log_ratio",
    "oscillator",
    "output",
    "safe_div",
    "safe_log",
    "wmean",
    "wstd",
]

from typing import NamedTuple

import jax.numpy as jnp

from bpjax.core.fields import FIELD_INDEX
from bpjax.core.types import Array, Bool, Float
from bpjax.features.ops import count, from_z, log_ratio, oscillator, safe_div, safe_log, wmean, wstd
from bpjax.features.streams import Stream
from bpjax.features.windows import Window
from bpjax.zones.grid import ZONE_FEATURE_INDEX


class CardOutput(NamedTuple):
    direction: Float[Array, ...]
    strength: Float[Array, ...]
    confidence: Float[Array, ...]
    value: Float[Array, ...]


class CardInput:
    """The engine's state as a card sees it. Every accessor returns an array that broadcasts to
    the batch (mode, tf, sym):

    windows     (mode, window, tf, sym)    window features (bpjax.features.windows), each mode's lookbacks
    counts      (mode, window, tf, sym)    bars with data behind each window feature
    streams     (3, stream, mode, tf, sym) provisional mean/var/weight (open bar folded in)
    committed   (3, stream, mode, tf, sym) mean/var/weight as of the last closed bar
    latest      (field, 1, 1, sym)         this tick's snapshot, ``fresh_mask`` its mask
    scale       (mode, 1, 1)               the mode's lookback scale
    progress    (1, tf, 1)                 share of the open bar elapsed
    bar_seconds (1, tf, 1)                 the timeframe's bar length
    params      name -> (mode, 1, 1)       the card's traced parameters
    clock       (4,)              float32 sin, cos of the UTC hour of day (2 pi hour / 24), sin, cos of
                                  the day of week (2 pi weekday / 7): the tick's wall-clock time
    zones       (feature, 1, 1, sym) the zone engine's reading this tick (:meth:`zone`)
    benchmark   int (static)      index of the benchmark symbol (``universe.benchmark``) on the
                                  symbol axis: for cross-sectional cards (beta, lead-lag)

    A card may only read the streams and window features it declared, and the zone engine
    only when declared with ``zones=True``; anything else raises at trace time, naming the card
    and the feature.
    """

    def __init__(
        self,
        *,
        name: str,
        windows,
        counts,
        streams,
        committed,
        latest,
        fresh_mask,
        scale,
        window_length: int,
        progress,
        bar_seconds,
        params: dict[str, Array],
        stream_index: dict[Stream, int],
        window_index: dict[Window, int],
        benchmark: int = 0,
        clock=None,
        zones=None,
        feature_axis: int = 1,
    ):
        self.name = name
        self.windows = windows
        self.counts = counts
        self.streams = streams
        self.committed = committed
        self.latest = latest
        self.fresh_mask = fresh_mask
        self.scale = scale
        self.progress = progress
        self.bar_seconds = bar_seconds
        self.params = params
        self._stream_index = stream_index
        self._window_index = window_index
        self.window_length = window_length
        self.benchmark = benchmark
        self.clock = clock
        self.zones = zones
        self._feature = (slice(None),) * feature_axis  # where the feature axis sits in windows/counts

    def _lookup(self, table: dict, key, kind: str) -> int:
        try:
            return table[key]
        except KeyError:
            raise KeyError(f"card {self.name!r} reads {kind} {key} that it did not declare") from None

    # --- window features ------------------------------------------------------------------------
    def w(self, feature: Window) -> Float[Array, ...]:
        """Value of a declared window feature."""
        return self.windows[self._feature + (self._lookup(self._window_index, feature, "window feature"),)]

    def has(self, feature: Window) -> Bool[Array, ...]:
        """True where a declared window feature had data (a lag: that bar is present)."""
        return self.counts[self._feature + (self._lookup(self._window_index, feature, "window feature"),)] > 0

    def n(self, lookback: float) -> Float[Array, ""]:
        """Effective bars for a day-mode lookback in this mode: round(lookback x scale), >= 1."""
        return jnp.clip(jnp.round(lookback * self.scale), 1.0, self.window_length - 1.0)

    # --- this tick --------------------------------------------------------------------------------
    def last(self, name: str) -> Float[Array, ...]:
        """This tick's snapshot value of a field."""
        return self.latest[FIELD_INDEX[name]]

    def fresh(self, *names: str) -> Bool[Array, ...]:
        out = self.fresh_mask[FIELD_INDEX[names[0]]]
        for name in names[1:]:
            out = out & self.fresh_mask[FIELD_INDEX[name]]
        return out

    # --- streams --------------------------------------------------------------------------------
    def _stream(self, stream: Stream) -> int:
        return self._lookup(self._stream_index, stream, "stream")

    def mean(self, stream: Stream) -> Float[Array, ...]:
        return self.streams[0, self._stream(stream)]

    def std(self, stream: Stream) -> Float[Array, ...]:
        return jnp.sqrt(jnp.maximum(self.streams[1, self._stream(stream)], 0.0))

    def weight(self, stream: Stream) -> Float[Array, ...]:
        """1 - (1 - alpha)^bars: how warmed-up the stream is (0 before its first bar)."""
        return self.streams[2, self._stream(stream)]

    def prev_mean(self, stream: Stream) -> Float[Array, ...]:
        """The stream's mean at the last closed bar (without the open bar)."""
        return self.committed[0, self._stream(stream)]

    # --- the zone engine ------------------------------------------------------------------------
    def zone(self, name: str) -> Float[Array, ...]:
        """This tick's zone reading of each symbol (:data:`bpjax.zones.grid.ZONE_FEATURES`): the same
        for every mode and timeframe (the grid is per symbol)."""
        if self.zones is None:
            raise KeyError(f"card {self.name!r} reads the zone engine without declaring zones=True")
        return self.zones[self._lookup(ZONE_FEATURE_INDEX, name, "zone feature")]

    def p(self, name: str) -> Float[Array, ""]:
        return self.params[name]


def output(direction, strength, confidence, value) -> CardOutput:
    f32 = jnp.float32
    return CardOutput(
        jnp.asarray(direction, f32),
        jnp.asarray(strength, f32),
        jnp.asarray(confidence, f32),
        jnp.asarray(value, f32),
    )
