"""Independent float64 NumPy reference of the engine, written from the documented formulas.

Nothing here imports the engine's bar, stream, window or card code: bars are rebuilt
from the packed snapshots with their own fold, streams are plain sequential loops,
window features are computed directly on age-ordered bars, and every card is
re-derived from its docstring. Only the field table (the snapshot contract) and the
config are shared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bpjax.core.fields import AGGREGATION_CODES, AGGREGATIONS, FIELD_INDEX, IS_LEVEL, NUM_FIELDS

F = FIELD_INDEX
FIRST, LAST, MAX, MIN, SUM = (AGGREGATIONS[k] for k in ("first", "last", "max", "min", "sum"))
WARM = 1.0 - math.exp(-1.0)
VENUE_FUNDING = ("funding_binance", "funding_bybit", "funding_okx")


# --- bars ------------------------------------------------------------------------------------------


@dataclass
class Bars:
    """Every bar of one timeframe seen so far: index -> (values (sym, field), valid (sym, field))."""

    seconds: int
    bars: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    last: int = -1

    def add_tick(self, tick_end: float, tick_seconds: int, values: np.ndarray, valid: np.ndarray) -> None:
        index = int((tick_end - tick_seconds) // self.seconds)
        if index != self.last:
            previous = self.bars.get(self.last)
            start = np.zeros_like(values) if previous is None else np.where(IS_LEVEL, previous[0], 0.0)
            self.bars[index] = (start, np.zeros_like(valid))
            self.last = index
        bar, ok = self.bars[index]
        out = bar.copy()
        for f in range(NUM_FIELDS):
            code = AGGREGATION_CODES[f]
            b, bv, t, tv = bar[:, f], ok[:, f], values[:, f], valid[:, f]
            if code == FIRST:
                out[:, f] = np.where(bv, b, np.where(tv, t, b))
            elif code == LAST:
                out[:, f] = np.where(tv, t, b)
            elif code in (MAX, MIN):
                pick = np.maximum if code == MAX else np.minimum
                out[:, f] = np.where(bv & tv, pick(b, t), np.where(tv, t, b))
            else:
                out[:, f] = np.where(bv, b, 0.0) + np.where(tv, t, 0.0)
        self.bars[index] = (out, ok | valid)

    def by_age(self, lag: int) -> tuple[np.ndarray, np.ndarray]:
        """(age, sym, field) values and validity, age 0 = the open bar, missing bars masked."""
        sym = next(iter(self.bars.values()))[0].shape[0]
        values = np.zeros((lag, sym, NUM_FIELDS))
        valid = np.zeros((lag, sym, NUM_FIELDS), bool)
        for age in range(lag):
            if self.last - age in self.bars:
                values[age], valid[age] = self.bars[self.last - age]
        return values, valid

    def closed(self) -> list[int]:
        return sorted(b for b in self.bars if b < self.last)


# --- series (value, valid) of a bar given the bar before it ---------------------------------------------


def _log(x):
    return np.log(np.where(x > 0, x, 1.0))


def series(name: str, bar, ok, prev, prev_ok):
    """bar/prev: (..., field) float64; returns (..., ) value and validity."""
    c, pc = bar[..., F["close"]], prev[..., F["close"]]
    cok, pok = ok[..., F["close"]], prev_ok[..., F["close"]]
    h, lo = bar[..., F["high"]], bar[..., F["low"]]
    hlok = ok[..., F["high"]] & ok[..., F["low"]]
    if name in F:
        return bar[..., F[name]], ok[..., F[name]]
    if name.startswith("present("):
        names = name[8:-1].split(",")
        return np.ones(c.shape), np.all([ok[..., F[n]] for n in names], axis=0)
    if name in ("log_return", "abs_log_return", "up_square", "down_square"):
        good = cok & pok & (c > 0) & (pc > 0)
        r = np.where(good, _log(c) - _log(pc), 0.0)
        value = {
            "log_return": r,
            "abs_log_return": np.abs(r),
            "up_square": np.where(r > 0, r * r, 0.0),
            "down_square": np.where(r < 0, r * r, 0.0),
        }[name]
        return value, good
    if name == "log_close":
        good = cok & (c > 0)
        return np.where(good, _log(c), 0.0), good
    if name == "gain":
        return np.maximum(c - pc, 0.0), cok & pok
    if name == "loss":
        return np.maximum(pc - c, 0.0), cok & pok
    if name in ("true_range", "true_range_rel"):
        reference = np.where(pok, pc, lo)
        tr = np.maximum(h, reference) - np.minimum(lo, reference)
        if name == "true_range":
            return tr, hlok
        good = hlok & (c > 0)
        return np.where(good, tr / np.where(good, c, 1.0), 0.0), good
    if name == "range_log":
        good = hlok & (lo > 0)
        return np.where(good, _log(h) - _log(lo), 0.0), good
    if name in ("log_oi", "oi_log_change"):
        oi, poi = bar[..., F["open_interest"]], prev[..., F["open_interest"]]
        oiok, poiok = ok[..., F["open_interest"]], prev_ok[..., F["open_interest"]]
        if name == "log_oi":
            good = oiok & (oi > 0)
            return np.where(good, _log(oi), 0.0), good
        good = oiok & poiok & (oi > 0) & (poi > 0)
        return np.where(good, _log(oi) - _log(poi), 0.0), good
    if name == "funding_change":
        f, pf = bar[..., F["funding_rate"]], prev[..., F["funding_rate"]]
        return f - pf, ok[..., F["funding_rate"]] & prev_ok[..., F["funding_rate"]]
    if name == "premium":
        mark, index = bar[..., F["mark"]], bar[..., F["index"]]
        good = ok[..., F["mark"]] & ok[..., F["index"]] & (index > 0)
        return np.where(good, mark / np.where(good, index, 1.0) - 1.0, 0.0), good
    if name == "funding_notional":
        paid = bar[..., F["funding_rate"]] * bar[..., F["open_interest"]] * bar[..., F["mark"]]
        good = ok[..., F["funding_rate"]] & ok[..., F["open_interest"]] & ok[..., F["mark"]]
        return np.where(good, np.sign(paid) * np.log1p(np.abs(paid)), 0.0), good
    if name == "typical_price":
        return (h + lo + c) / 3.0, hlok & cok
    if name == "buying_pressure":
        reference = np.where(pok, pc, lo)
        return c - np.minimum(lo, reference), ok[..., F["low"]] & cok & pok
    if name == "abs_change":
        return np.abs(c - pc), cok & pok
    if name in SERIES:
        return SERIES[name](bar, ok, prev, prev_ok)
    raise KeyError(name)


# derived series added by the category modules of tests/references/:
# name -> fn(bar, ok, prev, prev_ok) -> (value, valid), arrays (..., field) as in series()
SERIES: dict = {}


def reference_series(name: str):
    def wrap(fn):
        if name in SERIES:
            raise ValueError(f"reference series {name!r} defined twice")
        SERIES[name] = fn
        return fn

    return wrap


# --- streams: sequential exponentially weighted mean / variance -------------------------------------------


def ew_step(state, x, ok, alpha):
    """One exponentially weighted update of (mean, var, weight) where ``ok``."""
    m, v, w = state
    w_new = (1 - alpha) * w + alpha
    gain = alpha / w_new
    d = x - m
    return (
        np.where(ok, m + gain * d, m),
        np.where(ok, (1 - gain) * (v + gain * d * d), v),
        np.where(ok, w_new, w),
    )


class StreamPaths:
    """Committed stream states after every closed bar of one timeframe, for one mode scale."""

    def __init__(self, bars: Bars, scale: float):
        self.scale = scale
        self.closed = bars.closed()
        sym = next(iter(bars.bars.values()))[0].shape[0]
        empty = (np.zeros((sym, NUM_FIELDS)), np.zeros((sym, NUM_FIELDS), bool))
        self.values = np.array([bars.bars[b][0] for b in self.closed])
        self.valid = np.array([bars.bars[b][1] for b in self.closed])
        previous = [bars.bars.get(b - 1, empty) for b in self.closed]
        self.prev = np.array([p[0] for p in previous])
        self.prev_valid = np.array([p[1] for p in previous])
        self.sym = sym
        self._paths: dict = {}

    def path(self, spec):
        """(mean, var, weight, updated) after each closed bar: (step, sym) arrays."""
        if spec in self._paths:
            return self._paths[spec]
        kind, source, span = spec
        if isinstance(source, tuple):
            inner = self.path(source)
            x, ok = inner[0], inner[3]
        else:
            x, ok = series(source, self.values, self.valid, self.prev, self.prev_valid)
        alpha = alpha_of(span, kind, self.scale)
        state = (np.zeros(self.sym), np.zeros(self.sym), np.zeros(self.sym))
        out = np.zeros((4, len(self.closed), self.sym))
        for t in range(len(self.closed)):
            state = ew_step(state, x[t], ok[t], alpha)
            out[:3, t] = state
            out[3, t] = ok[t]
        self._paths[spec] = (out[0], out[1], out[2], out[3].astype(bool))
        return self._paths[spec]

    def committed(self, spec, before: int):
        """The state after the last closed bar with index < ``before``."""
        k = int(np.searchsorted(self.closed, before))
        if k == 0:
            zeros = np.zeros(self.sym)
            return zeros, zeros, zeros
        mean, var, weight, _ = self.path(spec)
        return mean[k - 1], var[k - 1], weight[k - 1]


def alpha_of(span: float, kind: str, scale: float) -> float:
    span = span * scale
    return 1.0 / span if kind == "wilder" else 2.0 / (span + 1.0)


# --- one (mode, tf) slice over all symbols ---------------------------------------------------------------


def zone_features(output: dict, moves) -> dict[str, np.ndarray]:
    """What the liquidation and zones cards read of the zone engine (bpjax.zones.grid.ZONE_FEATURES),
    from a tick's zone reading and price (the host copy of TickOutput), in float64."""
    r, price = output["zones"], np.asarray(output["price"], np.float64)
    exit_price = np.asarray(r.exit_price, np.float64)
    features = {}
    for k, (side, sign) in enumerate((("above", 1.0), ("below", -1.0))):
        has = (price > 0) & (exit_price[k] > 0)
        ratio = np.where(has, exit_price[k], 1.0) / np.where(price > 0, price, 1.0)
        features[f"{side}_distance"] = np.where(has, np.maximum(sign * np.log(ratio), 0.0), 0.0)
        features[f"{side}_present"] = has * 1.0
        features[f"{side}_notional"] = np.asarray(r.exit_notional[k], np.float64)
    j = int(np.argmin(np.abs(np.asarray(moves) - 0.02)))
    trap = np.max(np.where(np.asarray(r.zone_kind) == 3, r.zone_strength, 0.0), axis=1)  # kind 3: trap
    features.update(
        imbalance=np.asarray(r.imbalance, np.float64),
        heat_mass=np.asarray(r.heat, np.float64).sum(axis=(0, 1)),
        cascade_down=np.asarray(r.cascade[0, j], np.float64),
        cascade_up=np.asarray(r.cascade[1, j], np.float64),
        trap_below=trap[0].astype(np.float64),
        trap_above=trap[1].astype(np.float64),
    )
    return features


class Slice:
    """Reference inputs for one (mode, tf) over all symbols, at one tick."""

    def __init__(
        self,
        bars: Bars,
        paths: StreamPaths,
        lag: int,
        scale: float,
        latest,
        latest_valid,
        progress: float,
        benchmark: int = 0,
        clock=None,
        zones: dict | None = None,
    ):
        self.bars, self.paths, self.lag, self.scale = bars, paths, lag, scale
        self.zones = zones  # name -> (sym,): the zone engine's reading, see zone_features
        self.latest, self.latest_valid = latest, latest_valid
        self.progress, self.bar_seconds = progress, float(bars.seconds)
        self.benchmark = benchmark  # index of the benchmark symbol on the symbol axis
        self.clock = clock  # (4,) sin/cos of hour of day and day of week, as the engine's
        self.rows, self.rows_ok = bars.by_age(lag)
        sym = self.rows.shape[1]
        empty = (np.zeros((sym, NUM_FIELDS)), np.zeros((sym, NUM_FIELDS), bool))
        self.open_bar = bars.bars[bars.last]
        self.before_open = bars.bars.get(bars.last - 1, empty)
        self._provisional: dict = {}

    def n(self, lookback: float, low: float = 1.0, offset: int = 0) -> int:
        return int(
            np.clip(np.round(np.float32(lookback) * np.float32(self.scale)), low, self.lag - 1 - offset)
        )

    # window features -----------------------------------------------------------------------------
    def _series_by_age(self, name):
        prev = np.concatenate([self.rows[1:], np.zeros_like(self.rows[:1])])
        prev_ok = np.concatenate([self.rows_ok[1:], np.zeros_like(self.rows_ok[:1])])
        return series(name, self.rows, self.rows_ok, prev, prev_ok)  # (age, sym)

    def lag_value(self, name: str, lookback: float):
        n = self.n(lookback, low=0.0)
        value, ok = self._series_by_age(name)
        return np.where(ok[n], value[n], 0.0), ok[n]

    def window(self, op: str, name: str, lookback: float, offset: int = 0):
        n = self.n(lookback, offset=offset)
        value, ok = self._series_by_age(name)
        v, m = value[offset : offset + n], ok[offset : offset + n]  # (n, sym)
        count = m.sum(axis=0).astype(float)
        safe = np.maximum(count, 1.0)
        mean = np.where(m, v, 0.0).sum(axis=0) / safe
        if op == "count":
            out = count
        elif op == "sum":
            out = np.where(m, v, 0.0).sum(axis=0)
        elif op == "mean":
            out = mean
        elif op == "std":
            out = np.where(count > 1, np.sqrt(np.where(m, (v - mean) ** 2, 0.0).sum(axis=0) / safe), 0.0)
        elif op == "mad":
            out = np.where(m, np.abs(v - mean), 0.0).sum(axis=0) / safe
        elif op == "max":
            out = np.where(count > 0, np.where(m, v, -np.inf).max(axis=0), 0.0)
        elif op == "min":
            out = np.where(count > 0, np.where(m, v, np.inf).min(axis=0), 0.0)
        elif op == "slope":
            x = -np.arange(offset, offset + n, dtype=float)[:, None] * np.ones_like(v)
            xm = np.where(m, x, 0.0).sum(axis=0) / safe
            dx, dy = np.where(m, x - xm, 0.0), np.where(m, v - mean, 0.0)
            sxx = (dx * dx).sum(axis=0)
            out = np.where(sxx > 0, (dx * dy).sum(axis=0) / np.where(sxx > 0, sxx, 1.0), 0.0)
        else:
            raise KeyError(op)
        return np.where(count > 0, out, 0.0) if op != "count" else out, count

    # streams ---------------------------------------------------------------------------------------
    def _stream_state(self, spec):
        """(committed state, provisional state, provisional updated) of a stream spec."""
        if spec in self._provisional:
            return self._provisional[spec]
        kind, source, span = spec
        committed = self.paths.committed(spec, self.bars.last)
        if isinstance(source, tuple):
            _, inner, inner_updated = self._stream_state(source)
            x, ok = inner[0], inner_updated
        else:
            x, ok = series(
                source, self.open_bar[0], self.open_bar[1], self.before_open[0], self.before_open[1]
            )
        provisional = ew_step(committed, x, ok, alpha_of(span, kind, self.scale))
        self._provisional[spec] = (committed, provisional, ok)
        return self._provisional[spec]

    def stream(self, spec):
        """(mean, std, weight, previous mean) of a stream spec: the open bar folded into the
        committed state of the closed bars."""
        committed, (mean, var, weight), _ = self._stream_state(spec)
        return mean, np.sqrt(np.maximum(var, 0.0)), weight, committed[0]

    def warm(self, specs) -> np.ndarray:
        if not specs:
            return np.ones(self.rows.shape[1])

        def depth(spec):
            return 0 if not isinstance(spec[1], tuple) else 1 + depth(spec[1])

        slowest = max(specs, key=lambda s: (s[2], depth(s)))
        return np.clip(self.stream(slowest)[2] / WARM, 0.0, 1.0)

    def quality(self, inputs, lookback, specs) -> np.ndarray:
        if inputs:
            count, _ = self.window("count", "present(" + ",".join(inputs) + ")", lookback)
            coverage = count / self.n(lookback)
            fresh = np.all([self.latest_valid[:, F[name]] for name in inputs], axis=0)
            quality = np.where(fresh, coverage, 0.0)
        else:
            quality = np.ones(self.rows.shape[1])
        return np.clip(quality * self.warm(specs), 0.0, 1.0)


# --- helpers used by the card references -------------------------------------------------------------------


def div(a, b, default=0.0):
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    ok = np.abs(b) > 1e-12
    return np.where(ok, a / np.where(ok, b, 1.0), default)


def from_z(z):
    return np.tanh(z), np.tanh(np.abs(z) / 2.0)


def osc(value, center, half):
    d = np.clip((value - center) / half, -1.0, 1.0)
    return d, np.abs(d)


RET = ("ema", "log_return", 50)


def move_z(s: Slice, lookback):
    close, ok_now = s.lag_value("close", 0)
    past, ok_past = s.lag_value("close", lookback)
    ok = ok_now & ok_past & (close > 0) & (past > 0)
    move = np.where(ok, _log(close) - _log(past), 0.0)
    return div(move, s.stream(RET)[1] * math.sqrt(s.n(lookback))), ok


def oi_change(s: Slice, lookback):
    now, ok_now = s.lag_value("open_interest", 0)
    past, ok_past = s.lag_value("open_interest", lookback)
    ok = ok_now & ok_past & (now > 0) & (past > 0)
    change = np.where(ok, _log(now) - _log(past), 0.0)
    return change, div(change, s.stream(("ema", "oi_log_change", 50))[1] * math.sqrt(s.n(lookback))), ok


def funding_change_z(s: Slice, lookback, floor):
    now, ok_now = s.lag_value("funding_rate", 0)
    past, ok_past = s.lag_value("funding_rate", lookback)
    scale = np.maximum(s.stream(("ema", "funding_change", 50))[1], floor) * math.sqrt(s.n(lookback))
    return (now - past) / scale, ok_now & ok_past


def cross_mean_std(z, ok):
    count = ok.sum()
    mean = np.where(ok, z, 0.0).sum() / max(count, 1)
    std = math.sqrt(np.where(ok, (z - mean) ** 2, 0.0).sum() / max(count, 1))
    return mean, std, count


# --- the cards: name -> (inputs, lookback, streams, function(slice) -> (d, s, c, value)) --------------------

CARDS: dict[str, tuple] = {}


def reference(name, inputs, lookback, streams=()):
    def wrap(fn):
        CARDS[name] = (tuple(inputs), lookback, tuple(streams), fn)
        return fn

    return wrap


@reference("roc", ("close",), 10, (RET,))
def _roc(s):
    z, ok = move_z(s, 10)
    d, st = from_z(z)
    close, past = s.lag_value("close", 0)[0], s.lag_value("close", 10)[0]
    return d, st, ok * 1.0, 100.0 * (div(close, past, 1.0) - 1.0)


GAIN, LOSS = ("wilder", "gain", 14), ("wilder", "loss", 14)


@reference("rsi", ("close",), 14, (GAIN, LOSS))
def _rsi(s):
    g, lo = s.stream(GAIN)[0], s.stream(LOSS)[0]
    value = np.where(g + lo > 0, 100.0 * div(g, g + lo), 50.0)
    d, st = osc(value, 50.0, 30.0)
    return d, st, (g + lo > 0) * 1.0, value


E12, E26 = ("ema", "close", 12), ("ema", "close", 26)
S12, S26 = ("ema", E12, 9), ("ema", E26, 9)


@reference("macd", ("close",), 35, (E12, E26, S12, S26, RET))
def _macd(s):
    histogram = (s.stream(E12)[0] - s.stream(E26)[0]) - (s.stream(S12)[0] - s.stream(S26)[0])
    close = s.lag_value("close", 0)[0]
    d, st = from_z(div(histogram, close * s.stream(RET)[1]))
    return d, st, np.ones_like(d), histogram


@reference("stochastic", ("high", "low", "close"), 14)
def _stochastic(s):
    hh, ll = s.window("max", "high", 14)[0], s.window("min", "low", 14)[0]
    close = s.lag_value("close", 0)[0]
    value = np.where(hh - ll > 0, 100.0 * div(close - ll, hh - ll), 50.0)
    d, st = osc(value, 50.0, 50.0)
    return d, st, (hh - ll > 0) * 1.0, value


@reference("cci", ("high", "low", "close"), 20)
def _cci(s):
    mean = s.window("mean", "typical_price", 20)[0]
    mad = s.window("mad", "typical_price", 20)[0]
    typical = s.lag_value("typical_price", 0)[0]
    value = div(typical - mean, 0.015 * mad)
    d, st = from_z(value / 100.0)
    return d, st, (mad > 0) * 1.0, value


TSI_N = ("ema", ("ema", "log_return", 25), 13)
TSI_D = ("ema", ("ema", "abs_log_return", 25), 13)


@reference("tsi", ("close",), 38, (TSI_N, TSI_D))
def _tsi(s):
    den = s.stream(TSI_D)[0]
    value = 100.0 * div(s.stream(TSI_N)[0], den)
    d = np.tanh(value / 40.0)
    return d, np.abs(d), (den > 0) * 1.0, value


TRIX = ("ema", ("ema", ("ema", "close", 15), 15), 15)


@reference("trix", ("close",), 45, (TRIX, RET))
def _trix(s):
    mean, _, _, previous = s.stream(TRIX)
    value = 100.0 * (div(mean, previous, 1.0) - 1.0)
    alpha = 2.0 / (15.0 * s.scale + 1.0)
    d, st = from_z(div(value / 100.0, s.stream(RET)[1] * math.sqrt(3.0 * alpha / 16.0)))
    return d, st, (previous > 0) * 1.0, value


@reference("ultimate_oscillator", ("high", "low", "close"), 29)
def _ultimate(s):
    averages = [
        div(s.window("sum", "buying_pressure", k)[0], s.window("sum", "true_range", k)[0], 0.5)
        for k in (7, 14, 28)
    ]
    value = 100.0 * (4 * averages[0] + 2 * averages[1] + averages[2]) / 7.0
    d, st = osc(value, 50.0, 20.0)
    return d, st, (s.window("sum", "true_range", 7)[0] > 0) * 1.0, value


@reference("efficiency_ratio", ("close",), 10)
def _efficiency(s):
    path = s.window("sum", "abs_change", 10)[0]
    close, (past, past_ok) = s.lag_value("close", 0)[0], s.lag_value("close", 10)
    value = np.clip(div(close - past, path), -1.0, 1.0)
    return value, np.abs(value), ((path > 0) & past_ok) * 1.0, value


@reference("cross_sectional_momentum", ("close",), 20, (RET,))
def _cross_momentum(s):
    z, ok = move_z(s, 20)
    mean, std, count = cross_mean_std(z, ok)
    value = np.where(ok, div(z - mean, std), 0.0)
    d, st = from_z(value)
    return d, st, np.where(ok, np.clip((count - 1.0) / 4.0, 0.0, 1.0), 0.0), value


ATR, ATR_SLOW = ("wilder", "true_range", 14), ("wilder", "true_range", 100)


@reference("atr_expansion", ("high", "low", "close"), 14, (ATR, ATR_SLOW, RET))
def _atr_expansion(s):
    atr, slow = s.stream(ATR)[0], s.stream(ATR_SLOW)[0]
    expansion = np.clip(div(_log(atr) - _log(slow), math.log(2.0)), 0.0, 1.0)
    z, ok = move_z(s, 14)
    return np.tanh(z) * expansion, expansion, (ok & (slow > 0)) * 1.0, atr


@reference("bollinger_percent_b", ("close",), 20)
def _bollinger(s):
    middle, sd = s.window("mean", "close", 20)[0], s.window("std", "close", 20)[0]
    close = s.lag_value("close", 0)[0]
    value = np.where(sd > 0, 0.5 + div(close - middle, 4.0 * sd), 0.5)
    d, st = osc(value, 0.5, 0.5)
    return d, st, (sd > 0) * 1.0, value


K_EMA, K_ATR = ("ema", "close", 20), ("wilder", "true_range", 10)


@reference("keltner_position", ("high", "low", "close"), 20, (K_EMA, K_ATR))
def _keltner(s):
    atr = s.stream(K_ATR)[0]
    value = div(s.lag_value("close", 0)[0] - s.stream(K_EMA)[0], 2.0 * atr)
    d, st = osc(value, 0.0, 1.0)
    return d, st, (atr > 0) * 1.0, value


@reference("donchian_position", ("high", "low", "close"), 21)
def _donchian(s):
    hh, ll = s.window("max", "high", 20, offset=1)[0], s.window("min", "low", 20, offset=1)[0]
    half = 0.5 * (hh - ll)
    value = div(s.lag_value("close", 0)[0] - 0.5 * (hh + ll), half)
    d, st = osc(value, 0.0, 1.0)
    return d, st, (half > 0) * 1.0, value


VS, VL = ("ema", "log_return", 10), ("ema", "log_return", 100)


@reference("realized_vol_ratio", ("close",), 100, (VS, VL))
def _vol_ratio(s):
    value = div(s.stream(VS)[1], s.stream(VL)[1], 1.0)
    d = -np.tanh(np.maximum(div(_log(value), math.log(2.0)), 0.0))
    return d, np.abs(d), (s.stream(VL)[1] > 0) * 1.0, value


UP, DOWN = ("ema", "up_square", 20), ("ema", "down_square", 20)


@reference("realized_semivariance", ("close",), 20, (UP, DOWN))
def _semivariance(s):
    up, down = s.stream(UP)[0], s.stream(DOWN)[0]
    value = div(up - down, up + down)
    return value, np.abs(value), (up + down > 0) * 1.0, value


RANGE = ("ema", "range_log", 20)


@reference("range_expansion", ("high", "low", "close"), 20, (RANGE,))
def _range_expansion(s):
    high, low, close = (s.lag_value(f, 0)[0] for f in ("high", "low", "close"))
    usual = s.stream(RANGE)[3] * math.sqrt(min(max(s.progress, 0.0), 1.0))
    value = div(_log(high) - _log(low), usual)
    expansion = np.clip(value - 1.0, 0.0, 1.0)
    location = div((close - low) - (high - close), high - low)
    return location * expansion, expansion, (usual > 0) * 1.0, value


SQ_ATR = ("wilder", "true_range", 20)


@reference("squeeze", ("close",), 20, (SQ_ATR,))
def _squeeze(s):
    atr = s.stream(SQ_ATR)[0]
    value = np.clip(1.0 - div(2.0 * s.window("std", "close", 20)[0], 1.5 * atr, 1.0), 0.0, 1.0)
    relative_atr = div(atr, s.lag_value("close", 0)[0])
    momentum = np.tanh(div(s.window("slope", "log_close", 20)[0] * s.n(20), relative_atr))
    return momentum * value, value, (atr > 0) * 1.0, value


FUND = ("ema", "funding_rate", 100)
FUND_CHANGE = ("ema", "funding_change", 50)
PREMIUM = ("ema", "premium", 50)


@reference("funding_level", ("funding_rate",), 100, (FUND,))
def _funding_level(s):
    rate = s.lag_value("funding_rate", 0)[0]
    mean, sd, _, _ = s.stream(FUND)
    d, st = from_z(-(rate - mean) / np.maximum(sd, 2e-5))
    return d, st, np.ones_like(d), rate


@reference("funding_extreme", ("funding_rate",), 1)
def _funding_extreme(s):
    rate = s.lag_value("funding_rate", 0)[0]
    excess = np.clip(div(np.abs(rate) - 1e-4, 1e-3 - 1e-4), 0.0, 1.0)
    return -np.sign(rate) * excess, excess, np.ones_like(rate), rate


@reference("funding_momentum", ("funding_rate",), 8, (FUND_CHANGE,))
def _funding_momentum(s):
    z, ok = funding_change_z(s, 8, 1e-5)
    d, st = from_z(-z)
    return d, st, ok * 1.0, s.lag_value("funding_rate", 0)[0] - s.lag_value("funding_rate", 8)[0]


@reference("predicted_funding_shift", ("funding_rate", "predicted_funding"), 1, (FUND,))
def _predicted_shift(s):
    shift = s.lag_value("predicted_funding", 0)[0] - s.lag_value("funding_rate", 0)[0]
    d, st = from_z(shift / np.maximum(s.stream(FUND)[1], 2e-5))
    return d, st, np.ones_like(d), shift


@reference("premium_index", ("mark", "index"), 50, (PREMIUM,))
def _premium(s):
    mark, index = s.lag_value("mark", 0)[0], s.lag_value("index", 0)[0]
    premium = div(mark, index, 1.0) - 1.0
    mean, sd, _, _ = s.stream(PREMIUM)
    d, st = from_z((premium - mean) / np.maximum(sd, 1e-5))
    return d, st, (index > 0) * 1.0, premium * 1e4


@reference("funding_carry", ("funding_rate", "close"), 50, (RET,))
def _carry(s):
    sigma = s.stream(RET)[1]
    value = div(-s.lag_value("funding_rate", 0)[0], sigma * math.sqrt(28_800.0 / s.bar_seconds))
    d = np.tanh(value / 0.05)
    return d, np.abs(d), (sigma > 0) * 1.0, value


@reference("cross_venue_funding_spread", ("funding_rate",) + VENUE_FUNDING, 1, (FUND,))
def _venue_spread(s):
    rates = np.array([s.lag_value(name, 0)[0] for name in VENUE_FUNDING])
    present = np.array([s.lag_value(name, 0)[1] for name in VENUE_FUNDING])
    mean = np.where(present, rates, 0.0).sum(axis=0) / np.maximum(present.sum(axis=0), 1)
    spread = s.lag_value("funding_rate", 0)[0] - np.where(present.sum(axis=0) > 0, mean, 0.0)
    d, st = from_z(-spread / np.maximum(s.stream(FUND)[1], 2e-5))
    return d, st, (present.sum(axis=0) >= 2) * 1.0, spread


@reference("funding_price_divergence", ("funding_rate", "close"), 12, (FUND_CHANGE, RET))
def _divergence(s):
    pz, pok = move_z(s, 12)
    fz, fok = funding_change_z(s, 12, 1e-5)
    value = 0.5 * (pz - fz)
    d, st = from_z(value)
    return d, st, (pok & fok) * 1.0, value


OI_CHANGE = ("ema", "oi_log_change", 50)


@reference("oi_price_confirmation", ("open_interest", "close"), 12, (OI_CHANGE, RET))
def _oi_confirmation(s):
    pz, pok = move_z(s, 12)
    _, oz, ook = oi_change(s, 12)
    d = np.tanh(pz) * 0.5 * (1.0 + np.tanh(oz))
    return d, np.abs(d), (pok & ook) * 1.0, oz


OI_LEVEL = ("ema", "open_interest", 200)


@reference("oi_zscore", ("open_interest", "close"), 200, (OI_LEVEL, RET))
def _oi_zscore(s):
    oi = s.lag_value("open_interest", 0)[0]
    mean, sd, _, _ = s.stream(OI_LEVEL)
    level = div(
        np.where((oi > 0) & (mean > 0), _log(oi) - _log(np.where(mean > 0, mean, 1.0)), 0.0), div(sd, mean)
    )
    pz, pok = move_z(s, 12)
    crowding = np.clip(level / 2.0, 0.0, 1.0)
    return -np.tanh(pz) * crowding, crowding, (pok & (oi > 0)) * 1.0, level


@reference("oi_delta_flow", ("open_interest", "buy_volume", "sell_volume"), 6, (OI_CHANGE,))
def _oi_flow(s):
    buy, sell = s.window("sum", "buy_volume", 6)[0], s.window("sum", "sell_volume", 6)[0]
    flow = div(buy - sell, buy + sell)
    _, oz, ook = oi_change(s, 6)
    d = np.tanh(3.0 * flow) * 0.5 * (1.0 + np.tanh(oz))
    return d, np.abs(d), (ook & (buy + sell > 0)) * 1.0, flow


@reference("oi_divergence", ("open_interest", "high", "low", "close"), 20, (OI_CHANGE,))
def _oi_divergence(s):
    hh, ll = s.window("max", "high", 20)[0], s.window("min", "low", 20)[0]
    position = 2.0 * div(s.lag_value("close", 0)[0] - ll, hh - ll, 0.5) - 1.0
    _, oz, ook = oi_change(s, 20)
    d = -position * np.clip(-oz / 2.0, 0.0, 1.0)
    return d, np.abs(d), (ook & (hh > ll)) * 1.0, oz


@reference("oi_volume_ratio", ("open_interest", "volume", "close"), 12, (RET,))
def _oi_volume(s):
    traded = s.window("sum", "volume", 12)[0]
    (now, now_ok), (past, past_ok) = s.lag_value("open_interest", 0), s.lag_value("open_interest", 12)
    ratio = div(now - past, traded)
    pz, pok = move_z(s, 12)
    d = np.tanh(pz) * np.tanh(ratio / 0.05)
    return d, np.abs(d), (pok & now_ok & past_ok & (traded > 0)) * 1.0, ratio


OI_FAST, OI_SLOW = ("ema", "oi_log_change", 5), ("ema", "oi_log_change", 30)


@reference("oi_acceleration", ("open_interest", "close"), 30, (OI_FAST, OI_SLOW, RET))
def _oi_acceleration(s):
    slow_sd = s.stream(OI_SLOW)[1]
    value = div(s.stream(OI_FAST)[0] - s.stream(OI_SLOW)[0], slow_sd)
    pz, pok = move_z(s, 12)
    d = np.tanh(pz) * np.tanh(value)
    return d, np.abs(d), (pok & (slow_sd > 0)) * 1.0, value


NOTIONAL = ("ema", "funding_notional", 100)


@reference("oi_weighted_funding", ("open_interest", "funding_rate", "mark"), 100, (NOTIONAL,))
def _oi_funding(s):
    paid = s.lag_value("funding_rate", 0)[0] * s.lag_value("open_interest", 0)[0] * s.lag_value("mark", 0)[0]
    mean, sd, _, _ = s.stream(NOTIONAL)
    z = div(np.sign(paid) * np.log1p(np.abs(paid)) - mean, sd)
    d, st = from_z(-z)
    return d, st, (sd > 0) * 1.0, paid


@reference("oi_notional_share", ("open_interest", "close"), 24, (OI_CHANGE, RET))
def _oi_share(s):
    growth, _, ok = oi_change(s, 24)
    mean, std, count = cross_mean_std(growth, ok)
    value = np.where(ok, div(growth - mean, std), 0.0)
    pz, pok = move_z(s, 24)
    d = np.tanh(value) * np.tanh(2.0 * pz)
    return d, np.abs(d), np.where(ok & pok, np.clip((count - 1.0) / 4.0, 0.0, 1.0), 0.0), value


@reference(
    "oi_liquidation_flush", ("open_interest", "liq_long_notional", "liq_short_notional"), 6, (OI_CHANGE,)
)
def _oi_flush(s):
    longs, long_count = s.window("sum", "liq_long_notional", 6)
    shorts, short_count = s.window("sum", "liq_short_notional", 6)
    imbalance = div(longs - shorts, longs + shorts)
    _, oz, ook = oi_change(s, 6)
    d = imbalance * np.clip(-oz / 2.0, 0.0, 1.0)
    return d, np.abs(d), (ook & (long_count > 0) & (short_count > 0)) * 1.0, imbalance


def evaluate(name: str, s: Slice):
    """(direction, strength, confidence after quality, value) of card ``name`` on every symbol."""
    inputs, lookback, streams, fn = CARDS[name]
    d, st, c, value = (np.broadcast_to(np.asarray(x, float), s.rows.shape[1:2]) for x in fn(s))
    finite = np.isfinite(d) & np.isfinite(st) & np.isfinite(c) & np.isfinite(value)
    quality = np.where(finite, s.quality(inputs, lookback, streams), 0.0)
    d, st, c, value = (np.where(finite, x, 0.0) for x in (d, st, c, value))
    return np.clip(d, -1, 1), np.clip(st, 0, 1), np.clip(c, 0, 1) * quality, value


# the references of the other categories, one module per category, register themselves here
def _load_category_references() -> None:
    import importlib
    import pkgutil

    from tests import references

    for module in sorted(m.name for m in pkgutil.iter_modules(references.__path__)):
        importlib.import_module(f"tests.references.{module}")


_load_category_references()
