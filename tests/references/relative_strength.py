"""NumPy references of the relative-strength cards (cross-sectional: arrays over every symbol)."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, _log, div, from_z, move_z, reference
from tests.references.correlation import LOOKBACK, blocks


def ramp(ok):
    return np.where(ok, min(max((ok.sum() - 1.0) / 4.0, 0.0), 1.0), 0.0)


def percentile(values, ok):
    out = np.full(values.shape, 0.5)
    n = ok.sum()
    if n < 2:
        return out
    valid = values[ok]
    for i in np.flatnonzero(ok):
        below = (valid < values[i]).sum()
        equal = (valid == values[i]).sum()
        out[i] = (below + 0.5 * (equal - 1.0)) / (n - 1.0)
    return out


def log_move(s, newer, older):
    (a, a_ok), (b, b_ok) = s.lag_value("close", newer), s.lag_value("close", older)
    ok = a_ok & b_ok & (a > 0) & (b > 0)
    return np.where(ok, _log(a) - _log(b), 0.0), ok


@reference("multi_horizon_rank", ("close",), 24)
def _multi_horizon_rank(s):
    short, short_ok = log_move(s, 0, 6)
    long, long_ok = log_move(s, 0, 24)
    ok = short_ok & long_ok
    value = 0.5 * (percentile(short, ok) + percentile(long, ok))
    d = 2.0 * value - 1.0
    return d, np.abs(d), ramp(ok), value


@reference("relative_information_ratio", ("close",), LOOKBACK)
def _information_ratio(s):
    r, ok = blocks(s)
    counts = ok.sum(axis=1)
    mean = div(np.where(ok, r, 0.0).sum(axis=1), counts)
    excess = np.where(ok, r - mean[:, None], 0.0)
    value = div(excess.sum(axis=0), np.sqrt((excess * excess).sum(axis=0)))
    d = np.tanh(value / 1.5)
    return d, np.abs(d), ramp(ok.sum(axis=0) >= 4), value


@reference("benchmark_ratio_trend", ("close",), 20)
def _ratio_trend(s):
    slope, slope_count = s.window("slope", "log_close", 20)
    b = s.benchmark
    relative = slope - slope[b]
    r, ok = blocks(s)
    both = ok & ok[:, b : b + 1]
    gap = r - r[:, b : b + 1]
    pairs = both.sum(axis=0).astype(float)
    noise = np.sqrt(div(np.where(both, gap * gap, 0.0).sum(axis=0), pairs * s.n(2)))
    u = div(relative * math.sqrt(s.n(20)), noise)
    d, st = from_z(u)
    not_benchmark = np.arange(u.shape[0]) != b
    confident = (slope_count > 0) & (slope_count[b] > 0) & (pairs >= 4) & not_benchmark
    return d, st, confident * 1.0, u


@reference("rank_improvement", ("close",), 24)
def _rank_improvement(s):
    now, now_ok = log_move(s, 0, 12)
    before, before_ok = log_move(s, 12, 24)
    ok = now_ok & before_ok
    d = percentile(now, ok) - percentile(before, ok)
    return d, np.abs(d), ramp(ok), d


@reference("volume_leadership", ("volume", "close"), 50, (RET,))
def _volume_leadership(s):
    recent = s.window("mean", "volume", 5, offset=1)[0]
    usual = s.window("mean", "volume", 50, offset=1)[0]
    volume_ok = (recent > 0) & (usual > 0)
    growth = np.where(
        volume_ok, _log(np.where(volume_ok, recent, 1.0)) - _log(np.where(volume_ok, usual, 1.0)), 0.0
    )
    n = volume_ok.sum()
    mean = growth[volume_ok].mean() if n else 0.0
    std = growth[volume_ok].std() if n else 0.0
    v = np.where(volume_ok, div(growth - mean, std), 0.0)
    z, ok = move_z(s, 5)
    d = np.tanh(z) * 0.5 * (1.0 + np.tanh(v))
    return d, np.abs(d), ramp(ok & volume_ok), v
