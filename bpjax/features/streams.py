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

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np

from bpjax.core.fields import FIELD_INDEX
from bpjax.core.types import Array, Bool, Float

STREAM_KINDS = ("ema", "wilder")


@jax.tree_util.register_pytree_node_class
class Bar:
    """A bar (or a batch of bars): values and masks laid out (..., field, sym), the symbol axis
    innermost as everywhere on the device.

    ``columns`` names the fields along the field axis when it holds a subset (static, not
    traced); by default it holds every field in ``FIELD_NAMES`` order.
    """

    def __init__(self, values, valid, columns: tuple[str, ...] | None = None):
        self.values = values
        self.valid = valid
        self.columns = columns

    def _column(self, name: str) -> int:
        return FIELD_INDEX[name] if self.columns is None else self.columns.index(name)

    def f(self, name: str) -> Float[Array, "... sym"]:
        return self.values[..., self._column(name), :]

    def ok(self, *names: str) -> Bool[Array, "... sym"]:
        out = self.valid[..., self._column(names[0]), :]
        for name in names[1:]:
            out = out & self.valid[..., self._column(name), :]
        return out

    def tree_flatten(self):
        return (self.values, self.valid), self.columns

    @classmethod
    def tree_unflatten(cls, columns, children):
        return cls(*children, columns=columns)


class _FieldRecorder(Bar):
    """A stand-in bar that records which fields a series function reads."""

    def __init__(self, seen: set[str]):
        super().__init__(None, None)
        self.seen = seen

    def f(self, name: str):
        self.seen.add(name)
        return jnp.ones((), jnp.float32)

    def ok(self, *names: str):
        self.seen.update(names)
        return jnp.ones((), bool)


def _safe_log(x):
    return jnp.log(jnp.where(x > 0, x, 1.0))


def log_ratio(a, b):
    """log(a / b) for positive a, b, as log1p((a - b) / b): in float32, log(a) - log(b) loses the
    digits of a small change (1e-4 moves of a price near 60 000 came out 1 % off)."""
    ok = (a > 0) & (b > 0)
    safe_b = jnp.where(ok, b, 1.0)
    return jnp.where(ok, jnp.log1p((jnp.where(ok, a, 1.0) - safe_b) / safe_b), 0.0)


def _log_ratio(bar: Bar, prev: Bar, name: str):
    a, b = bar.f(name), prev.f(name)
    ok = bar.ok(name) & prev.ok(name) & (a > 0) & (b > 0)
    return log_ratio(a, b), ok


def _log_return(bar: Bar, prev: Bar):
    return _log_ratio(bar, prev, "close")


def _true_range(bar: Bar, prev: Bar):
    """Wilder's true range; high - low when the previous close is missing."""
    prev_close = jnp.where(prev.ok("close"), prev.f("close"), bar.f("low"))
    high = jnp.maximum(bar.f("high"), prev_close)
    low = jnp.minimum(bar.f("low"), prev_close)
    return high - low, bar.ok("high", "low")


def _abs_log_return(bar: Bar, prev: Bar):
    r, ok = _log_return(bar, prev)
    return jnp.abs(r), ok


def _true_range_rel(bar: Bar, prev: Bar):
    tr, ok = _true_range(bar, prev)
    close = bar.f("close")
    ok = ok & (close > 0)
    return jnp.where(ok, tr / jnp.where(ok, close, 1.0), 0.0), ok


def _range_log(bar: Bar, prev: Bar):
    ok = bar.ok("high", "low") & (bar.f("low") > 0)
    return log_ratio(bar.f("high"), bar.f("low")), ok


def _signed_square(sign: float):
    def series(bar: Bar, prev: Bar):
        r, ok = _log_return(bar, prev)
        return jnp.where(sign * r > 0, r * r, 0.0), ok

    return series


def _close_change(sign: float):
    def series(bar: Bar, prev: Bar):
        change = bar.f("close") - prev.f("close")
        return jnp.maximum(sign * change, 0.0), bar.ok("close") & prev.ok("close")

    return series


def _premium(bar: Bar, prev: Bar):
    index = bar.f("index")
    ok = bar.ok("mark", "index") & (index > 0)
    # (mark - index) / index: the subtraction of two close prices is exact in float32
    return jnp.where(ok, (bar.f("mark") - index) / jnp.where(ok, index, 1.0), 0.0), ok


def _funding_notional(bar: Bar, prev: Bar):
    """Funding paid per interval by longs, in quote: rate x open interest x mark (signed log1p scale)."""
    ok = bar.ok("funding_rate", "open_interest", "mark")
    paid = bar.f("funding_rate") * bar.f("open_interest") * bar.f("mark")
    return jnp.where(ok, jnp.sign(paid) * jnp.log1p(jnp.abs(paid)), 0.0), ok


def _taker_imbalance(bar: Bar, prev: Bar):
    buy, sell = bar.f("buy_volume"), bar.f("sell_volume")
    total = buy + sell
    ok = bar.ok("buy_volume", "sell_volume") & (total > 0)
    return jnp.where(ok, (buy - sell) / jnp.where(ok, total, 1.0), 0.0), ok


def _log_oi(bar: Bar, prev: Bar):
    oi = bar.f("open_interest")
    ok = bar.ok("open_interest") & (oi > 0)
    return jnp.where(ok, _safe_log(oi), 0.0), ok


def _typical_price(bar: Bar, prev: Bar):
    return (bar.f("high") + bar.f("low") + bar.f("close")) / 3.0, bar.ok("high", "low", "close")


def _buying_pressure(bar: Bar, prev: Bar):
    prev_close = jnp.where(prev.ok("close"), prev.f("close"), bar.f("low"))
    return bar.f("close") - jnp.minimum(bar.f("low"), prev_close), bar.ok("low", "close") & prev.ok("close")


def _abs_change(bar: Bar, prev: Bar):
    return jnp.abs(bar.f("close") - prev.f("close")), bar.ok("close") & prev.ok("close")


SeriesFn = Callable[[Bar, Bar], tuple[Array, Array]]

# name -> (function of (bar, previous bar) -> (value, valid), description)
SERIES: dict[str, tuple[SeriesFn, str]] = {
    "log_close": (
        lambda b, p: (_safe_log(b.f("close")), b.ok("close") & (b.f("close") > 0)),
        "log close price",
    ),
    "log_return": (_log_return, "log(close / previous close)"),
    "abs_log_return": (_abs_log_return, "|log return|"),
    "up_square": (_signed_square(1.0), "squared log return when positive, else 0"),
    "down_square": (_signed_square(-1.0), "squared log return when negative, else 0"),
    "gain": (_close_change(1.0), "max(close - previous close, 0)"),
    "loss": (_close_change(-1.0), "max(previous close - close, 0)"),
    "true_range": (_true_range, "max(high, previous close) - min(low, previous close)"),
    "true_range_rel": (_true_range_rel, "true range / close"),
    "range_log": (_range_log, "log(high / low)"),
    "log_oi": (_log_oi, "log open interest"),
    "oi_log_change": (lambda b, p: _log_ratio(b, p, "open_interest"), "log(OI / previous OI)"),
    "funding_change": (
        lambda b, p: (b.f("funding_rate") - p.f("funding_rate"), b.ok("funding_rate") & p.ok("funding_rate")),
        "funding rate - previous funding rate",
    ),
    "premium": (_premium, "(mark - index) / index"),
    "funding_notional": (_funding_notional, "signed log1p(funding x OI x mark)"),
    "taker_imbalance": (_taker_imbalance, "(taker buy - taker sell) / volume"),
    "typical_price": (_typical_price, "(high + low + close) / 3"),
    "buying_pressure": (_buying_pressure, "close - min(low, previous close)"),
    "abs_change": (_abs_change, "|close - previous close|"),
}


def register_series(name: str, description: str):
    """Decorator adding a derived series ``fn(bar, prev) -> (value, valid)`` to :data:`SERIES`, so
    a card module can declare streams and windows on it. The function must mask what it cannot
    compute (a missing field, a division by zero) and return float32 values."""

    def wrap(fn: SeriesFn) -> SeriesFn:
        if name in SERIES or name in FIELD_INDEX:
            raise ValueError(f"series {name!r} is defined twice")
        SERIES[name] = (fn, description)
        series_fields.cache_clear()
        return fn

    return wrap


def all_present(fields) -> str:
    """Name of the series that is 1 on bars where every one of ``fields`` is present."""
    return "present(" + ",".join(fields) + ")"


def is_series(name: str) -> bool:
    if name.startswith("present(") and name.endswith(")"):
        return all(field in FIELD_INDEX for field in name[8:-1].split(","))
    return name in SERIES or name in FIELD_INDEX


def series_value(name: str, bar: Bar, prev: Bar):
    """(value, valid) of a derived series, of ``present(a,b,...)`` (1 where all are present),
    or, for a field name, of the field itself."""
    if name in SERIES:
        return SERIES[name][0](bar, prev)
    if name.startswith("present("):
        ok = bar.ok(*name[8:-1].split(","))
        return jnp.ones(ok.shape, jnp.float32), ok
    return bar.f(name), bar.ok(name)


@cache
def series_fields(name: str) -> tuple[str, ...]:
    """The snapshot fields a series reads (of the bar or the bar before it), in field order."""
    seen: set[str] = set()
    series_value(name, _FieldRecorder(seen), _FieldRecorder(seen))
    return tuple(sorted(seen, key=FIELD_INDEX.__getitem__))


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
