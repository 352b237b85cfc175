"""NumPy references of the cross_exchange cards, from their docstrings."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import F, cross_mean_std, div, reference, reference_series

LN2 = math.log(2.0)
VENUES = ("binance", "bybit", "okx")
VENUE_MIDS = tuple(f"mid_{v}" for v in VENUES)
VENUE_FUNDING = tuple(f"funding_{v}" for v in VENUES)


def _log(x):
    return np.log(np.where(x > 0, x, 1.0))


def _log_ratio(a, b):
    good = (a > 0) & (b > 0)
    return np.where(good, _log(a) - _log(b), 0.0)


def _moments(values, oks):
    values, oks = np.array(values, float), np.array(oks, bool)
    n = oks.sum(axis=0).astype(float)
    mean = div(np.where(oks, values, 0.0).sum(axis=0), n)
    var = div(np.where(oks, (values - mean) ** 2, 0.0).sum(axis=0), n)
    return mean, var, n


def _logs(get, anchor, anchor_ok):
    logs, oks = [], []
    for name in VENUE_MIDS:
        value, ok = get(name)
        ok = ok & (value > 0) & anchor_ok & (anchor > 0)
        logs.append(np.where(ok, _log_ratio(value, anchor), 0.0))
        oks.append(ok)
    return logs, oks


def _bar_logs(bar, ok):
    return _logs(lambda n: (bar[..., F[n]], ok[..., F[n]]), bar[..., F["mid"]], ok[..., F["mid"]])


@reference_series("venue_mid_dispersion")
def _dispersion_series(bar, ok, prev, prev_ok):
    _, var, n = _moments(*_bar_logs(bar, ok))
    return np.sqrt(var), n >= 2


@reference_series("primary_venue_premium")
def _premium_series(bar, ok, prev, prev_ok):
    mean, _, n = _moments(*_bar_logs(bar, ok))
    return -mean, n >= 2


@reference_series("venue_funding_dispersion")
def _funding_series(bar, ok, prev, prev_ok):
    _, var, n = _moments([bar[..., F[f]] for f in VENUE_FUNDING], [ok[..., F[f]] for f in VENUE_FUNDING])
    return np.sqrt(var), n >= 2


@reference_series("venue_premium_lead")
def _lead_series(bar, ok, prev, prev_ok):
    c, pc = bar[..., F["close"]], prev[..., F["close"]]
    good = ok[..., F["close"]] & prev_ok[..., F["close"]] & (c > 0) & (pc > 0)
    mean, _, n = _moments(*_bar_logs(prev, prev_ok))
    good = good & (n >= 2)
    return np.where(good, (_log(c) - _log(pc)) * -mean, 0.0), good


def _slice_logs(s, lookback=0):
    anchor, anchor_ok = s.lag_value("mid", lookback)
    return _logs(lambda n: s.lag_value(n, lookback), anchor, anchor_ok)


def _premium(s, lookback=0):
    mean, _, n = _moments(*_slice_logs(s, lookback))
    return -mean, n >= 2


DISPERSION = ("ema", "venue_mid_dispersion", 50)
PREMIUM = ("ema", "primary_venue_premium", 50)


@reference("venue_mid_dispersion", ("mid",) + VENUE_MIDS, 50, (DISPERSION,))
def _dispersion(s):
    _, var, n = _moments(*_slice_logs(s))
    dispersion, usual = np.sqrt(var), s.stream(DISPERSION)[0]
    ok = (n >= 2) & (usual > 0)
    excess = np.clip(_log_ratio(dispersion, usual) / LN2, 0.0, 1.0)
    market, _, _ = cross_mean_std(excess, ok)
    reading = np.where(ok, 0.5 * (excess + market), 0.0)
    return -reading, reading, ok * 1.0, dispersion * 1e4


@reference("primary_venue_premium", ("mid",) + VENUE_MIDS, 50, (PREMIUM,))
def _primary_premium(s):
    value, ok = _premium(s)
    mean, sd, _, _ = s.stream(PREMIUM)
    z = (value - mean) / np.maximum(sd, 1e-5)
    return np.tanh(z), np.tanh(np.abs(z) / 2.0), ok * 1.0, value * 1e4


@reference("venue_leader_skew", ("mid",) + VENUE_MIDS, 1)
def _skew(s):
    logs, oks = _slice_logs(s)
    stacked = np.array(logs)
    highest, lowest, middle = stacked.max(axis=0), stacked.min(axis=0), np.median(stacked, axis=0)
    value = np.clip(div(highest + lowest - 2.0 * middle, highest - lowest), -1.0, 1.0)
    ok = np.all(oks, axis=0) & (highest > lowest)
    return value, np.abs(value), ok * 1.0, value


FUNDING_DISPERSION = ("ema", "venue_funding_dispersion", 50)


@reference("venue_funding_dispersion", VENUE_FUNDING, 50, (FUNDING_DISPERSION,))
def _funding_dispersion(s):
    rates = [s.lag_value(f, 0) for f in VENUE_FUNDING]
    mean, var, n = _moments([r[0] for r in rates], [r[1] for r in rates])
    dispersion, usual = np.sqrt(var), s.stream(FUNDING_DISPERSION)[0]
    excess = np.clip(_log_ratio(dispersion, usual) / LN2, 0.0, 1.0)
    d = -np.tanh(mean / 1e-4) * excess
    return d, np.abs(d), ((n >= 2) & (usual > 0)) * 1.0, dispersion


@reference("cross_venue_momentum_gap", ("mid",) + VENUE_MIDS, 10, (PREMIUM,))
def _momentum_gap(s):
    (now, ok_now), (before, ok_before) = _premium(s), _premium(s, 10)
    gap = now - before
    z = gap / (math.sqrt(2.0) * np.maximum(s.stream(PREMIUM)[1], 1e-5))
    return -np.tanh(z), np.tanh(np.abs(z) / 2.0), (ok_now & ok_before) * 1.0, gap * 1e4


LEAD = ("ema", "venue_premium_lead", 100)
PREMIUM_SLOW = ("ema", "primary_venue_premium", 100)
RETURNS_SLOW = ("ema", "log_return", 100)


@reference("venue_lead_lag", ("close", "mid") + VENUE_MIDS, 100, (LEAD, PREMIUM_SLOW, RETURNS_SLOW))
def _lead_lag(s):
    value, ok = _premium(s)
    premium_mean, premium_sd, _, _ = s.stream(PREMIUM_SLOW)
    return_mean, sigma, _, _ = s.stream(RETURNS_SLOW)
    var = premium_sd * premium_sd
    beta = div(s.stream(LEAD)[0] - return_mean * premium_mean, var)
    d = np.tanh(div(beta * value, sigma) / 0.1)
    return d, np.abs(d), (ok & (var > 0) & (sigma > 0)) * 1.0, beta
