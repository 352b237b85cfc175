"""NumPy references of the positioning cards, from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import F, reference, reference_series
from tests.references.liquidation import lratio


def _log_field(name):
    def series(bar, ok, prev, prev_ok):
        value = bar[..., F[name]]
        good = ok[..., F[name]] & (value > 0)
        return np.where(good, np.log(np.where(good, value, 1.0)), 0.0), good

    return series


reference_series("positioning_log_global_ratio")(_log_field("ls_global_accounts"))
reference_series("positioning_log_taker_ratio")(_log_field("taker_ratio"))
GLOBAL_LOG = ("ema", "positioning_log_global_ratio", 100)
TAKER_LOG = ("ema", "positioning_log_taker_ratio", 20)


def log_of(s, name, lookback=0):
    value, ok = s.lag_value(name, lookback)
    ok = ok & (value > 0)
    return np.where(ok, lratio(value, 1.0), 0.0), ok


@reference("crowd_contrarian", ("ls_global_accounts",), 1)
def _crowd(s):
    g, ok = log_of(s, "ls_global_accounts")
    d = -np.tanh(g / 0.3)
    return d, np.abs(d), ok * 1.0, s.lag_value("ls_global_accounts", 0)[0]


@reference("top_trader_positions", ("ls_top_positions",), 1)
def _top_positions(s):
    t, ok = log_of(s, "ls_top_positions")
    d = np.tanh(t / 0.3)
    return d, np.abs(d), ok * 1.0, s.lag_value("ls_top_positions", 0)[0]


@reference("top_global_divergence", ("ls_top_accounts", "ls_global_accounts"), 1)
def _divergence(s):
    top, top_ok = log_of(s, "ls_top_accounts")
    crowd, crowd_ok = log_of(s, "ls_global_accounts")
    value = top - crowd
    d = np.tanh(value / 0.3)
    return d, np.abs(d), (top_ok & crowd_ok) * 1.0, value


@reference("crowd_ratio_momentum", ("ls_global_accounts",), 12)
def _momentum(s):
    now, now_ok = log_of(s, "ls_global_accounts")
    before, before_ok = log_of(s, "ls_global_accounts", 12)
    value = now - before
    d = -np.tanh(value / 0.15)
    return d, np.abs(d), (now_ok & before_ok) * 1.0, value


@reference("taker_ratio_regime", ("taker_ratio",), 20, (TAKER_LOG,))
def _taker(s):
    k = s.stream(TAKER_LOG)[0]
    d = np.tanh(k / 0.2)
    return d, np.abs(d), np.ones_like(d), np.exp(k)


@reference("ratio_extreme_z", ("ls_global_accounts",), 100, (GLOBAL_LOG,))
def _extreme(s):
    g, ok = log_of(s, "ls_global_accounts")
    mean, sd, _, _ = s.stream(GLOBAL_LOG)
    z = (g - mean) / np.maximum(sd, 0.02)
    d = -np.tanh(z) * np.clip(np.abs(z) / 2.0, 0.0, 1.0)
    return d, np.abs(d), ok * 1.0, np.where(ok, z, 0.0)
