"""Window features: every rolling-window statistic the cards use, streamed in O(1) per tick.

A :class:`Window` is a static declaration, e.g. ``Window("max", "high", 14)``: the
highest high of the last 14 bars (day-mode bars; every mode multiplies by its
traced ``lookback_scale``). Cards declare the window features they read; the
engine computes all of them together and cards only combine scalars.

Ops (``n`` = round(lookback x scale) bars, clipped to the ring; bars are counted back
from the open bar, ``offset`` 0 includes it, ``offset`` 1 starts at the last closed
bar; masked bars never count):

    sum    sum of the series          mean   mean of the series
    count  bars with data             std    population standard deviation
    max    maximum                    min    minimum
    slope  least-squares slope against bar position (per bar)
    lag    the value ``n`` bars before the open bar (``lookback`` 0 = the open bar)
    mad    mean absolute deviation from the window mean (the one op that re-reads
           its window every tick: O(lookback))

How it streams. Closed bars never change, and every symbol closes its bars at the
same moment, so for each timeframe the engine keeps *prefix statistics of the
closed bars* — for j = 0..lag-1, the count, sum, sum of squares, age moments, max
and min of the j newest closed bars, per symbol and series — and touches them only
on a tick where that timeframe closes a bar (``lax.cond`` on one scalar). A
close that follows the cached bar *advances* the cache: the j newest closed bars are
the bar that just closed plus the j - 1 newest before it, so every column shifts by
one row and takes that bar in (O(columns x sym), with the age moments re-aged and
the deviations re-centred exactly by algebra); after a gap, or on the first tick,
the cache is *rebuilt* from the ring (O(lag) per column). On every other tick a
feature is one gather from that cache at ``j = n - 1`` (or ``n`` with offset 1)
combined with the open bar: O(1) per feature, whatever the lookback, for every mode
at once. Sums are taken around a per-series reference (the mean of the closed bars
on a rebuild, the newest closed bar on an advance) where they feed a variance or a
slope, so float32 keeps the precision of a variance of prices; plain sums stay
plain, so an exact zero stays zero.

A series is a snapshot field name or a derived series of :data:`bpjax.features.series.SERIES`
(a function of a bar and the bar before it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bpjax.core.fields import FIELD_INDEX
from bpjax.core.types import Array, Bool, Float, Int
from bpjax.features.series import Bar, is_series, series_fields, series_value

WINDOW_OPS = ("count", "sum", "mean", "std", "max", "min", "slope", "lag", "mad")
CACHED_OPS = ("count", "sum", "mean", "std", "max", "min", "slope")
# sum: plain sum (an exact zero stays zero); dsum, dsumsq, agedot: around the reference
STATS = ("count", "sum", "dsum", "dsumsq", "max", "min", "age", "age2", "agedot")
OP_STATS: dict[str, tuple[str, ...]] = {
    "count": ("count",),
    "sum": ("count", "sum"),
    "mean": ("count", "sum"),
    "std": ("count", "dsum", "dsumsq"),
    "max": ("count", "max"),
    "min": ("count", "min"),
    "slope": ("count", "dsum", "age", "age2", "agedot"),
    "lag": (),
    "mad": (),
}
BIG = float(np.finfo(np.float32).max)
MAD_RESOLUTION = 8.0 * float(np.finfo(np.float32).eps)  # relative to the level: below is noise


@dataclass(frozen=True)
class Window:
    op: str
    series: str
    lookback: float
    offset: int = 0

    def __post_init__(self):
        if self.op not in WINDOW_OPS:
            raise ValueError(f"window op must be one of {', '.join(WINDOW_OPS)}, was {self.op!r}")
        if not is_series(self.series):
            raise ValueError(f"unknown window series {self.series!r} (not a field nor a derived series)")
        low = 0 if self.op == "lag" else 1
        if not self.lookback >= low:
            raise ValueError(f"{self.op} window lookback must be >= {low} bars, was {self.lookback!r}")
        if self.op == "lag":
            if self.offset:
                raise ValueError("a lag window takes no offset: put the bars in the lookback")
            if self.series not in FIELD_INDEX and self.lookback != 0:
                raise ValueError(f"derived series {self.series!r} can only be read at lag 0 (the open bar)")
        elif self.offset not in (0, 1) or (self.op == "mad" and self.offset):
            raise ValueError(
                f"window offset must be 0 (include the open bar) or 1 (mad: 0 only), was {self.offset}"
            )

    def bars_needed(self, scale: float) -> int:
        """Ring rows this feature reads at lookback scale ``scale`` (plus the open bar and the bar
        before the oldest, which derived series read)."""
        return int(np.ceil(self.lookback * scale)) + self.offset + 2

    def __str__(self) -> str:
        suffix = f", offset={self.offset}" if self.offset else ""
        return f"{self.op}({self.series}, {self.lookback:g}{suffix})"


class WindowCache(NamedTuple):
    """Prefix statistics of the closed bars per timeframe (rebuilt when that timeframe closes a
    bar). ``prefix[tf]`` packs every (series, statistic) column raggedly: column p holds
    j = 0 .. length_p - 1 newest closed bars at rows ``start_p + j``."""

    prefix: Float[Array, "tf packed sym"]
    reference: Float[Array, "tf series sym"]  # the value sums are taken around
    bar: Int[Array, " tf"]  # the open bar when the cache was last brought up to date


class WindowValues(NamedTuple):
    value: Float[Array, "mode window tf sym"]
    count: Float[Array, "mode window tf sym"]  # bars with data (a lag: 1 or 0)


class RingView(NamedTuple):
    """What the window features read from the ring buffers this tick."""

    bars: Float[Array, "tf lag field sym"]  # the ring itself (slots, not ages)
    valid: Bool[Array, "tf lag field sym"]
    slot_bar: Int[Array, "tf lag"]
    bar_index: Int[Array, " tf"]  # the open bar
    open_bar: Bar  # (tf, field, sym)
    previous: Bar  # the bar before the open bar
    new_bar: Bool[Array, " tf"]


def rows_by_age(
    view: RingView, columns: tuple[str, ...], tf: int | None = None, rows: int | None = None
) -> Bar:
    """Ring rows of the named fields ordered by age (0 = open bar), masked where a slot holds
    another bar: a (..., rows, column, sym) :class:`Bar`. ``tf`` (may be traced) picks one
    timeframe; ``rows`` (static) keeps the newest rows only (all by default)."""
    lag = view.bars.shape[1]
    bars, valid, slot_bar, bar_index = view.bars, view.valid, view.slot_bar, view.bar_index
    if tf is not None:
        bars, valid, slot_bar, bar_index = bars[tf], valid[tf], slot_bar[tf], bar_index[tf]
    fields = np.array([FIELD_INDEX[name] for name in columns])
    ages = jnp.arange(lag if rows is None else rows)
    expected = bar_index[..., None] - ages.reshape((1,) * bar_index.ndim + (-1,))  # (..., rows)
    slots = expected % lag
    holds = jnp.take_along_axis(slot_bar, slots, axis=-1) == expected
    index = slots[..., :, None, None]
    rows = jnp.take_along_axis(bars[..., fields, :], index, axis=-3)
    ok = jnp.take_along_axis(valid[..., fields, :], index, axis=-3) & holds[..., :, None, None]
    return Bar(rows, ok, columns)


def _columns(names) -> tuple[str, ...]:
    fields = {field for name in names for field in series_fields(name)}
    return tuple(sorted(fields, key=FIELD_INDEX.__getitem__))


class WindowBank:
    """The static layout of every window feature: indices, cache columns, gather tables.

    ``lag`` is the ring length and ``max_scale`` the largest mode lookback scale of the
    configuration: each cache column is as long as its longest feature needs at that scale.
    """

    def __init__(self, features, lag: int = 64, max_scale: float = 1.0):
        # feature order = output order: cached ops (grouped by op), lags of derived series (the
        # open bar), lags of fields, mean absolute deviations
        def order(w: Window):
            return (
                WINDOW_OPS.index(w.op),
                w.op == "lag" and w.series in FIELD_INDEX,
                w.series,
                w.lookback,
                w.offset,
            )

        self.features: tuple[Window, ...] = tuple(sorted(set(features), key=order))
        self.index: dict[Window, int] = {w: i for i, w in enumerate(self.features)}
        self.lag = lag
        cached = [w for w in self.features if OP_STATS[w.op]]
        self.series_names = tuple(sorted({w.series for w in cached}))
        self.series_index = {name: i for i, name in enumerate(self.series_names)}
        length: dict[tuple[str, str], int] = {}
        for w in cached:
            need = min(int(np.ceil(w.lookback * max_scale)) + w.offset + 1, lag)
            for stat in OP_STATS[w.op]:
                length[(w.series, stat)] = max(length.get((w.series, stat), 0), need)
        # columns grouped by statistic, so an advance treats each statistic as one block of rows
        self.pairs: tuple[tuple[str, str], ...] = tuple(
            sorted(length, key=lambda p: (STATS.index(p[1]), p[0]))
        )
        self.pair_index = {pair: i for i, pair in enumerate(self.pairs)}
        self.pair_length = np.array([length[pair] for pair in self.pairs], np.int32)
        self.pair_start = np.concatenate([[0], np.cumsum(self.pair_length)[:-1]]).astype(np.int32)
        self.packed = int(self.pair_length.sum())
        self._advance_tables()
        self.mad_series = tuple(sorted({w.series for w in self.features if w.op == "mad"}))
        self.cached = tuple(w for w in self.features if w.op in CACHED_OPS)
        self.lags = tuple(w for w in self.features if w.op == "lag")
        self.mads = tuple(w for w in self.features if w.op == "mad")
        # gather entries, ordered (op, statistic, feature) so each (op, statistic) is a contiguous block
        entries, self.blocks = [], {}
        for op in CACHED_OPS:
            group = [w for w in self.cached if w.op == op]
            for stat in OP_STATS[op] if group else ():
                self.blocks[(op, stat)] = (len(entries), len(entries) + len(group))
                entries += [(w, stat) for w in group]
        self.entry_pair = np.array([self.pair_index[(w.series, stat)] for w, stat in entries], np.int32)
        self.entry_lookback = np.array([w.lookback for w, _ in entries], np.float32)
        self.entry_offset = np.array([w.offset for w, _ in entries], np.float32)
        self.open_names = tuple(
            sorted(
                {w.series for w in self.cached} | {w.series for w in self.lags if w.series not in FIELD_INDEX}
            )
        )
        self.mad_rows = min(
            max((int(np.ceil(w.lookback * max_scale)) for w in self.mads), default=1), lag - 1
        )

    def __len__(self) -> int:
        return len(self.features)

    def max_bars(self, scale: float) -> int:
        return max((w.bars_needed(scale) for w in self.features), default=2)

    # --- the cache ------------------------------------------------------------------------------
    def init_cache(self, num_tf: int, num_sym: int) -> WindowCache:
        return WindowCache(
            prefix=jnp.zeros((num_tf, self.packed, num_sym), jnp.float32),
            reference=jnp.zeros((num_tf, len(self.series_names), num_sym), jnp.float32),
            bar=jnp.full((num_tf,), np.iinfo(np.int32).min, jnp.int32),
        )

    def _advance_tables(self) -> None:
        """Static row tables of an advance: per statistic, its block of rows, each row's series
        and j, and where the same series' count, dsum and age at j - 1 live."""
        row_pair = np.repeat(np.arange(len(self.pairs)), self.pair_length)
        row_j = np.arange(self.packed) - self.pair_start[row_pair]
        needs = {"dsum": ("count",), "dsumsq": ("count", "dsum"), "age": ("count",)}
        needs |= {"age2": ("count", "age"), "agedot": ("count", "dsum", "age")}
        self.advance_blocks = []
        for stat in STATS:
            rows = np.flatnonzero([self.pairs[p][1] == stat for p in row_pair])
            if not len(rows):
                continue
            series = [self.pairs[p][0] for p in row_pair[rows]]
            earlier = {}  # the same series' other statistics one row (one bar fewer) back
            for other in needs.get(stat, ()):
                earlier[other] = np.array(
                    [
                        self.pair_start[self.pair_index[(name, other)]] + j - 1
                        for name, j in zip(series, row_j[rows], strict=True)
                    ]
                )
                earlier[other] = np.maximum(earlier[other], 0).astype(np.int32)  # j = 0 rows: unused
            self.advance_blocks.append(
                (
                    stat,
                    int(rows[0]),
                    int(rows[-1]) + 1,
                    np.array([self.series_index[name] for name in series], np.int32),
                    row_j[rows] == 0,
                    earlier,
                )
            )

    @staticmethod
    def _series_by_age(bar: Bar, names):
        """(value, valid) of each named series over age-ordered rows: (series, ..., rows, sym)."""
        previous = Bar(  # the bar one age older; the oldest has none
            jnp.concatenate([bar.values[..., 1:, :, :], jnp.zeros_like(bar.values[..., :1, :, :])], axis=-3),
            jnp.concatenate([bar.valid[..., 1:, :, :], jnp.zeros_like(bar.valid[..., :1, :, :])], axis=-3),
            bar.columns,
        )
        values, valid = zip(*(series_value(name, bar, previous) for name in names), strict=True)
        return jnp.stack(values), jnp.stack(valid)

    def _rebuild(self, view: RingView, tf) -> tuple[Array, Array]:
        """Prefix statistics of the closed bars of timeframe ``tf`` (may be traced):
        (packed, sym) and (series, sym)."""
        bar = rows_by_age(view, _columns(self.series_names), tf=tf)
        values, valid = self._series_by_age(bar, self.series_names)  # (series, lag, sym)
        open_value = jnp.where(valid[:, 0], values[:, 0], 0.0)
        values = jnp.where(valid, values, 0.0)[:, 1:]  # closed bars: age 1 ...
        valid = valid[:, 1:]
        count = jnp.sum(valid, axis=1, dtype=jnp.float32)
        # the reference sits among the values (the closed bars' mean, else the open bar): a
        # variance taken around a far-away reference cancels catastrophically in float32
        reference = jnp.where(count > 0, jnp.sum(values, axis=1) / jnp.maximum(count, 1.0), open_value)
        deviation = jnp.where(valid, values - reference[:, None, :], 0.0)
        age = jnp.arange(1, self.lag, dtype=jnp.float32)[None, :, None]
        contribution = {
            "count": valid.astype(jnp.float32),
            "sum": values,
            "dsum": deviation,
            "dsumsq": deviation * deviation,
            "age": jnp.where(valid, age, 0.0),
            "age2": jnp.where(valid, age * age, 0.0),
            "agedot": age * deviation,
            "max": jnp.where(valid, values, -BIG),
            "min": jnp.where(valid, values, BIG),
        }

        def stack(indices):
            return jnp.stack(
                [contribution[self.pairs[i][1]][self.series_index[self.pairs[i][0]]] for i in indices]
            )

        columns: list = [None] * len(self.pairs)
        sums = [i for i, (_, stat) in enumerate(self.pairs) if stat not in ("max", "min")]
        if sums:
            # prefix sums as one matmul: prefix[..., j] = sum of the j newest closed bars
            bars = self.lag - 1
            lower = jnp.asarray(np.arange(bars)[:, None] < np.arange(bars + 1)[None, :], jnp.float32)
            scanned = jnp.einsum("cis,ij->cjs", stack(sums), lower, precision=jax.lax.Precision.HIGHEST)
            for k, i in enumerate(sums):
                columns[i] = scanned[k, : self.pair_length[i]]
        for stat, combine, empty in (("max", jnp.maximum, -BIG), ("min", jnp.minimum, BIG)):
            chosen = [i for i, (_, s) in enumerate(self.pairs) if s == stat]
            if chosen:
                scanned = jnp.concatenate([jnp.full_like(stack(chosen)[:, :1], empty), stack(chosen)], axis=1)
                shift = 1
                while shift < self.lag:  # prefix extreme by doubling
                    shifted = jnp.concatenate(
                        [jnp.full_like(scanned[:, :shift], empty), scanned[:, :-shift]], axis=1
                    )
                    scanned = combine(scanned, shifted)
                    shift *= 2
                for k, i in enumerate(chosen):
                    columns[i] = scanned[k, : self.pair_length[i]]
        return jnp.concatenate(columns), reference

    def _advance(self, prefix, reference, view: RingView, tf) -> tuple[Array, Array]:
        """The cache of timeframe ``tf`` one bar later: the bar that just closed (age 1) joins
        every prefix, (packed, sym) and (series, sym). Exact algebra on the old columns at
        j - 1, re-centred on the new reference (the closed bar's value where it has one):
        with delta = new - old reference and a = age,

            dsum'   = dsum - delta count            dsumsq' = dsumsq - 2 delta dsum + delta^2 count
            age'    = age + count (+1)              age2'   = age2 + 2 age + count (+1)
            agedot' = agedot + dsum - delta (age + count)

        (the closed bar itself sits at age 1 on the reference: it adds nothing to the sums
        around it). Row j = 0 (no bars) stays empty."""
        bar = rows_by_age(view, _columns(self.series_names), tf=tf, rows=3)
        values, valid = self._series_by_age(bar, self.series_names)  # (series, 3, sym)
        x, ok = values[:, 1], valid[:, 1]
        new_reference = jnp.where(ok, x, reference)
        delta = new_reference - reference
        okf = ok.astype(jnp.float32)
        blocks = []
        for stat, start, stop, series, first, earlier in self.advance_blocks:
            if start:
                before = prefix[start - 1 : stop - 1]
            else:
                before = jnp.concatenate([jnp.zeros_like(prefix[:1]), prefix[: stop - 1]])
            old = {name: prefix[rows] for name, rows in earlier.items()}  # (rows, sym)
            d, fresh = delta[series], okf[series]
            if stat == "count":
                new = before + fresh
            elif stat == "sum":
                new = before + jnp.where(ok, x, 0.0)[series]
            elif stat == "dsum":
                new = before - d * old["count"]
            elif stat == "dsumsq":
                new = before - 2.0 * d * old["dsum"] + d * d * old["count"]
            elif stat == "age":
                new = before + old["count"] + fresh
            elif stat == "age2":
                new = before + 2.0 * old["age"] + old["count"] + fresh
            elif stat == "agedot":
                new = before + old["dsum"] - d * (old["age"] + old["count"])
            else:  # max, min
                pick, empty = (jnp.maximum, -BIG) if stat == "max" else (jnp.minimum, BIG)
                new = pick(before, jnp.where(ok, x, empty)[series])
            empty = {"max": -BIG, "min": BIG}.get(stat, 0.0)
            blocks.append(jnp.where(jnp.asarray(first)[:, None], empty, new))
        return jnp.concatenate(blocks), new_reference

    def refresh(self, cache: WindowCache, view: RingView) -> WindowCache:
        """Bring the cache of each timeframe that closed a bar this tick up to date (others
        untouched): an advance when the closed bar is the one after the cached state, else a
        rebuild. One loop over timeframes, in place."""
        if not self.pairs:
            return cache

        def body(tf, cache):
            def update(method):
                def apply(cache):
                    prefix, reference = method(cache.prefix[tf], cache.reference[tf], view, tf)
                    # plain dynamic-update-slices (not scatters): written in place
                    return WindowCache(
                        jax.lax.dynamic_update_slice_in_dim(cache.prefix, prefix[None], tf, axis=0),
                        jax.lax.dynamic_update_slice_in_dim(cache.reference, reference[None], tf, axis=0),
                        jax.lax.dynamic_update_slice_in_dim(cache.bar, view.bar_index[tf][None], tf, axis=0),
                    )

                return apply

            follows = cache.bar[tf] == view.bar_index[tf] - 1
            rebuild = update(lambda prefix, reference, view, tf: self._rebuild(view, tf))
            # two conditionals, each against "unchanged": one conditional holding both updates
            # makes XLA copy the whole cache on every tick
            unchanged = lambda cache: cache  # noqa: E731
            cache = jax.lax.cond(view.new_bar[tf] & ~follows, rebuild, unchanged, cache)
            return jax.lax.cond(view.new_bar[tf] & follows, update(self._advance), unchanged, cache)

        return jax.lax.fori_loop(0, view.bars.shape[0], body, cache)

    # --- per tick -------------------------------------------------------------------------------
    def compute(self, cache: WindowCache, view: RingView, scale: Float[Array, " mode"]) -> WindowValues:
        """Every feature for every (mode, tf, sym): cache gathers plus the open bar.

        One gather per timeframe serves every cached statistic of every feature and one ring
        gather every lag; the result is laid out (mode, feature, tf, sym) as the cards read it.
        """
        num_tf, num_sym = view.bars.shape[0], view.bars.shape[-1]
        num_mode = scale.shape[0]
        parts_value, parts_count = [], []  # (mode, k, tf, sym) blocks in feature order
        opened = {  # open-bar series, (tf, sym)
            name: series_value(name, view.open_bar, view.previous) for name in self.open_names
        }

        if self.cached:
            # gather: (mode, entry, tf, sym)
            n = jnp.round(jnp.asarray(self.entry_lookback)[None, :] * scale[:, None])
            n = jnp.clip(n, 1.0, self.lag - 1.0 - jnp.asarray(self.entry_offset)[None, :])
            j = (n - 1.0 + jnp.asarray(self.entry_offset)[None, :]).astype(jnp.int32)
            j = jnp.minimum(j, jnp.asarray(self.pair_length[self.entry_pair] - 1)[None, :])
            index = jnp.asarray(self.pair_start[self.entry_pair])[None, :] + j  # (mode, entry)
            # one gather of whole symbol rows straight into the (mode, entry, tf, sym) layout
            rows = index[:, :, None] + jnp.arange(num_tf, dtype=jnp.int32)[None, None, :] * self.packed
            flat = cache.prefix.reshape(num_tf * self.packed, num_sym)
            gathered = flat.at[rows.reshape(-1)].get(mode="promise_in_bounds")  # clipped above
            gathered = gathered.reshape(num_mode, len(self.entry_pair), num_tf, num_sym)
            # per cached feature: reference and open bar, (1, k, tf, sym)
            series = np.array([self.series_index[w.series] for w in self.cached])
            reference = jnp.swapaxes(cache.reference[:, series], 0, 1)[None]
            open_values = jnp.stack([opened[name][0] for name in self.open_names])
            open_valid = jnp.stack([opened[name][1] for name in self.open_names])
            which = np.array([self.open_names.index(w.series) for w in self.cached])
            v0, ok0 = open_values[which][None], open_valid[which][None]
            ok0 = ok0 & jnp.asarray([w.offset == 0 for w in self.cached])[None, :, None, None]
            d0 = jnp.where(ok0, v0 - reference, 0.0)
            start = 0
            for op in CACHED_OPS:
                size = sum(1 for w in self.cached if w.op == op)
                if not size:
                    continue
                stats = {stat: gathered[:, slice(*self.blocks[(op, stat)])] for stat in OP_STATS[op]}
                part = slice(start, start + size)
                count = stats["count"] + ok0[:, part].astype(jnp.float32)
                parts_value.append(
                    _finish(op, stats, count, reference[:, part], v0[:, part], ok0[:, part], d0[:, part])
                )
                parts_count.append(count)
                start += size

        lag_fields = [w for w in self.lags if w.series in FIELD_INDEX]
        for w in self.lags:
            if w.series not in FIELD_INDEX:  # derived series: the open bar only
                value, ok = (a[None, None] for a in opened[w.series])
                parts_value.append(
                    jnp.broadcast_to(jnp.where(ok, value, 0.0), (num_mode, 1, num_tf, num_sym))
                )
                parts_count.append(jnp.broadcast_to(ok.astype(jnp.float32), (num_mode, 1, num_tf, num_sym)))
        if lag_fields:
            lookback = np.array([w.lookback for w in lag_fields], np.float32)
            n = jnp.clip(jnp.round(lookback[None, :] * scale[:, None]), 0.0, self.lag - 1.0).astype(jnp.int32)
            expected = view.bar_index[None, :, None] - n[:, None, :]  # (mode, tf, k)
            slots = expected % self.lag
            tf_rows = jnp.arange(num_tf)[None, :, None]
            fields = np.array([FIELD_INDEX[w.series] for w in lag_fields])[None, None, :]
            holds = view.slot_bar[tf_rows, slots] == expected
            value = view.bars[tf_rows, slots, fields]  # (mode, tf, k, sym)
            ok = view.valid[tf_rows, slots, fields] & holds[..., None]
            parts_value.append(jnp.swapaxes(jnp.where(ok, value, 0.0), 1, 2))
            parts_count.append(jnp.swapaxes(ok.astype(jnp.float32), 1, 2))

        if self.mads:  # mean absolute deviations: the one op that reads its window every tick
            bar = rows_by_age(view, _columns(self.mad_series), rows=self.mad_rows + 1)  # (tf, rows, col, sym)
            series_values, series_valid = self._series_by_age(bar, self.mad_series)  # (series, tf, rows, sym)
            age = jnp.arange(self.mad_rows + 1, dtype=jnp.float32)[None, None, :, None]
            lookback = np.array([w.lookback for w in self.mads], np.float32)
            n = jnp.clip(
                jnp.round(lookback[None, :] * scale[:, None]), 1.0, float(self.mad_rows)
            )  # (mode, k)
            for i, w in enumerate(self.mads):
                column = self.mad_series.index(w.series)
                # deviations from the open bar first: exact for nearby values (Sterbenz), so a
                # small spread of a large level (a price at 60,000) keeps its digits
                v, ok = series_values[column][None], series_valid[column][None]  # (1, tf, rows, sym)
                level = jnp.where(ok[:, :, :1], v[:, :, :1], 0.0)
                v = v - level
                inside = ok & (age < n[:, i, None, None, None])
                count = jnp.sum(inside, axis=2, dtype=jnp.float32)  # (mode, tf, sym)
                mean = _div(jnp.sum(jnp.where(inside, v, 0.0), axis=2), count)
                value = _div(jnp.sum(jnp.where(inside, jnp.abs(v - mean[:, :, None, :]), 0.0), axis=2), count)
                # a deviation within a few float32 roundings of the level is rounding residue
                # (the same bar's value computed twice can differ by an ulp): call it zero, so
                # "no spread" is exact, as for std
                value = jnp.where(value > MAD_RESOLUTION * jnp.abs(level[:, :, 0]), value, 0.0)
                parts_value.append(value[:, None])
                parts_count.append(count[:, None])

        if not parts_value:
            empty = jnp.zeros((num_mode, 0, num_tf, num_sym), jnp.float32)
            return WindowValues(empty, empty)
        return WindowValues(jnp.concatenate(parts_value, axis=1), jnp.concatenate(parts_count, axis=1))


def _div(a, b):
    ok = b != 0
    return jnp.where(ok, a / jnp.where(ok, b, 1.0), 0.0)


def _finish(op, gathered, count, reference, v0, ok0, d0):
    """A feature from cached closed-bar statistics plus the open bar (d0 = v0 - reference)."""
    if op == "count":
        return count
    if op in ("max", "min"):
        pick = jnp.maximum if op == "max" else jnp.minimum
        extreme = pick(gathered[op], jnp.where(ok0, v0, -BIG if op == "max" else BIG))
        return jnp.where(count > 0, extreme, 0.0)
    if op in ("sum", "mean"):
        total = gathered["sum"] + jnp.where(ok0, v0, 0.0)
        return total if op == "sum" else _div(total, count)
    centered = gathered["dsum"] + d0
    mean = _div(centered, count)
    if op == "std":
        second = _div(gathered["dsumsq"] + d0 * d0, count)
        variance = second - mean * mean
        # below ~100 ulp of the second moment the variance is rounding residue (its sign even
        # depends on FMA contraction): call it zero, so "no spread" is exact
        variance = jnp.where((variance > 1e-5 * second) & (count > 1), variance, 0.0)
        return jnp.sqrt(variance)
    if op == "slope":
        # positions x = -age (the open bar is at 0 and adds nothing to the age moments)
        age, age2, agedot = gathered["age"], gathered["age2"], gathered["agedot"]
        covariance = -agedot + _div(age * centered, count)
        variance = age2 - _div(age * age, count)
        return _div(covariance, variance)
    raise ValueError(op)
