"""Streaming statistics: O(1)-per-bar exponentially weighted mean and variance of bar series.

A :class:`Stream` is a static declaration, e.g. ``Stream("gain", 14, "wilder")``:
the exponentially weighted mean and variance of a bar series (a function of a
bar and the bar before it) with a span in bars. The span is the day-mode span;
every mode multiplies it by its traced ``lookback_scale``. A stream's source may
be another stream (its mean), which gives the cascaded averages of MACD signal
lines, TRIX and TSI.

Each stream keeps three numbers per (sym, mode, tf): mean ``m``, variance ``v``
and weight ``w``. For an observation ``x`` with smoothing ``a``::

    w' = (1 - a) w + a          # weight of the data seen, 1 - (1 - a)^n
    b  = a / w'                 # bias-corrected gain: 1 on the first bar
    d  = x - m
    m' = m + b d
    v' = (1 - b) (v + b d^2)

so the first observation sets the mean (no zero start-up bias), the weight says
how warmed-up the stream is, and there is no add-new/subtract-old running sum to
drift in float32. Streams are *committed* when a bar closes; every tick the
cards read a *provisional* value that also folds in the open bar, so indicators
move with the forming bar at O(1) cost.

Missing bars (masked inputs) leave a stream unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from bpjax.core.types import Array, Bool, Float
from bpjax.features.series import SERIES, Bar, is_series, series_value

STREAM_KINDS = ("ema", "wilder")


@dataclass(frozen=True)
class Stream:
    """Exponentially weighted mean/variance of a bar series, or of another stream's mean."""

    source: str | Stream
    span: float
    kind: str = "ema"

    def __post_init__(self):
        if isinstance(self.source, str) and not is_series(self.source):
            raise ValueError(
                f"unknown stream series {self.source!r}; valid: a field name or one of {', '.join(SERIES)}"
            )
        if self.kind not in STREAM_KINDS:
            raise ValueError(f"stream kind must be one of {STREAM_KINDS}, was {self.kind!r}")
        if not self.span >= 1:
            raise ValueError(f"stream span must be >= 1 bar, was {self.span!r}")

    @property
    def depth(self) -> int:
        return 0 if isinstance(self.source, str) else self.source.depth + 1

    @property
    def series(self) -> str:
        return self.source if isinstance(self.source, str) else self.source.series

    def alpha(self, scale):
        """Smoothing per bar for a mode with lookback ``scale`` (traced)."""
        span = self.span * scale
        return 1.0 / span if self.kind == "wilder" else 2.0 / (span + 1.0)

    def __str__(self) -> str:
        inner = self.source if isinstance(self.source, str) else str(self.source)
        return f"{self.kind}({inner}, {self.span:g})"


def closure(streams) -> tuple[Stream, ...]:
    """The streams and every stream they are built on, ordered by depth then text (stable)."""
    seen: set[Stream] = set()
    stack = list(streams)
    while stack:
        stream = stack.pop()
        if stream not in seen:
            seen.add(stream)
            if isinstance(stream.source, Stream):
                stack.append(stream.source)
    return tuple(sorted(seen, key=lambda s: (s.depth, str(s))))


class StreamBank:
    """The static layout of every stream the registered cards use: one index per stream."""

    def __init__(self, streams):
        self.streams: tuple[Stream, ...] = closure(streams)
        self.index: dict[Stream, int] = {s: i for i, s in enumerate(self.streams)}
        self.spans = np.array([s.span for s in self.streams], dtype=np.float32)
        self.wilder = np.array([s.kind == "wilder" for s in self.streams], dtype=bool)
        self.depths = sorted({s.depth for s in self.streams})
        self.series_names = tuple(sorted({s.series for s in self.streams if s.depth == 0}))

    def __len__(self) -> int:
        return len(self.streams)

    def alphas(self, scale: Float[Array, " mode"]) -> Float[Array, "stream mode"]:
        span = jnp.asarray(self.spans)[:, None] * scale[None, :]
        return jnp.where(jnp.asarray(self.wilder)[:, None], 1.0 / span, 2.0 / (span + 1.0))

    def series_values(
        self, bar: Bar, prev: Bar
    ) -> tuple[Float[Array, "stream ..."], Bool[Array, "stream ..."]]:
        """Depth-0 inputs of every stream for bars of any shape (deeper ones are filled during the
        update)."""
        computed = {name: series_value(name, bar, prev) for name in self.series_names}
        shape = bar.values.shape[:-2] + bar.values.shape[-1:]  # (..., field, sym) -> (..., sym)
        values, valid = [], []
        for stream in self.streams:
            if stream.depth == 0:
                value, ok = computed[stream.source]
            else:
                value, ok = jnp.zeros(shape, jnp.float32), jnp.zeros(shape, bool)
            values.append(jnp.asarray(value, jnp.float32))
            valid.append(ok)
        return jnp.stack(values), jnp.stack(valid)

    def update(
        self,
        state: Float[Array, "3 stream mode tf sym"],
        x: Float[Array, "stream tf sym"],
        valid: Bool[Array, "stream tf sym"],
        alpha: Float[Array, "stream mode"],
    ) -> Float[Array, "3 stream mode tf sym"]:
        """Fold one bar into every stream; deeper streams read their source's updated mean.

        Streams are ordered by depth, so each depth is one contiguous block updated once.
        The ``tf`` axis may hold any number of timeframes.
        """
        mean, var, weight = state[0], state[1], state[2]
        x = x[:, None]
        valid = valid[:, None]
        blocks_mean, blocks_var, blocks_weight, blocks_updated = [], [], [], []
        for depth in self.depths:
            block = np.array([i for i, s in enumerate(self.streams) if s.depth == depth])
            lo, hi = int(block[0]), int(block[-1]) + 1
            a = alpha[lo:hi, :, None, None]
            if depth == 0:
                xs = jnp.broadcast_to(x[lo:hi], mean[lo:hi].shape)
                step = jnp.broadcast_to(valid[lo:hi], xs.shape)
            else:
                # a derived stream folds its source's new mean, only when the source moved now
                sources = np.array([self.index[s.source] for s in self.streams[lo:hi]])
                xs = jnp.concatenate(blocks_mean)[sources]
                step = jnp.concatenate(blocks_updated)[sources]
            m, v, w = mean[lo:hi], var[lo:hi], weight[lo:hi]
            step = step & jnp.isfinite(xs)  # garbage that survived the masks never enters the state
            new_weight = (1.0 - a) * w + a
            gain = a / new_weight
            delta = xs - m
            new_var = (1.0 - gain) * (v + gain * delta * delta)
            step = step & jnp.isfinite(new_var)  # (a finite value can still overflow the square)
            blocks_mean.append(jnp.where(step, m + gain * delta, m))
            blocks_var.append(jnp.where(step, new_var, v))
            blocks_weight.append(jnp.where(step, new_weight, w))
            blocks_updated.append(step)
        return jnp.stack([jnp.concatenate(blocks) for blocks in (blocks_mean, blocks_var, blocks_weight)])
