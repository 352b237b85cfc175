"""NumPy references of the correlation cards (cross-sectional: arrays over every symbol)."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, _log, div, from_z, move_z, reference

LAGS = tuple(range(0, 17, 2))
LOOKBACK = 17


def blocks(s):
    """(block, sym) returns over consecutive 2-bar blocks and their validity."""
    closes = [s.lag_value("close", lag) for lag in LAGS]
    values = np.array([c for c, _ in closes])
    present = np.array([ok for _, ok in closes]) & (values > 0)
    ok = present[:-1] & present[1:]
    r = np.where(ok, _log(values[:-1]) - _log(values[1:]), 0.0)
    return r, ok


def beta(s):
    r, ok = blocks(s)
    b = s.benchmark
    both = ok & ok[:, b : b + 1]
    rb = r[:, b : b + 1]
    sxy = np.where(both, r * rb, 0.0).sum(axis=0)
    sxx = np.where(both, rb * rb, 0.0).sum(axis=0)
    syy = np.where(both, r * r, 0.0).sum(axis=0)
    return (
        np.clip(div(sxy, sxx), -3.0, 3.0),
        np.clip(div(sxy, np.sqrt(sxx * syy)), -1.0, 1.0),
        both.sum(axis=0).astype(float),
        sxx,
    )


def not_benchmark(s, like):
    return np.arange(like.shape[0]) != s.benchmark


@reference("beta_implied_move", ("close",), LOOKBACK, (RET,))
def _beta_implied_move(s):
    b, _, pairs, sxx = beta(s)
    z, ok = move_z(s, 8)
    d, st = from_z(b * z[s.benchmark])
    return d, st, (ok[s.benchmark] & (pairs >= 4) & (sxx > 0)) * 1.0, b


@reference("benchmark_lead_lag", ("close",), LOOKBACK, (RET,))
def _lead_lag(s):
    b, rho, pairs, sxx = beta(s)
    r, ok = blocks(s)
    last, last_ok = r[0], ok[0]
    gap = div(b * last[s.benchmark] - last, s.stream(RET)[1] * math.sqrt(s.n(2)))
    d = np.tanh(gap) * np.maximum(rho, 0.0)
    confident = last_ok & last_ok[s.benchmark] & (pairs >= 4) & (sxx > 0) & not_benchmark(s, gap)
    return d, np.abs(d), confident * 1.0, gap


@reference("idiosyncratic_momentum", ("close",), LOOKBACK, (RET,))
def _idiosyncratic(s):
    b, _, pairs, sxx = beta(s)
    r, ok = blocks(s)
    both = ok & ok[:, s.benchmark : s.benchmark + 1]
    residual = np.where(both, r - b[None, :] * r[:, s.benchmark : s.benchmark + 1], 0.0).sum(axis=0)
    u = div(residual, s.stream(RET)[1] * np.sqrt(s.n(2) * pairs))
    d, st = from_z(u)
    return d, st, ((pairs >= 4) & (sxx > 0) & not_benchmark(s, u)) * 1.0, u


@reference("correlation_regime", ("close",), LOOKBACK, (RET,))
def _correlation_regime(s):
    r, ok = blocks(s)
    rms = np.sqrt(div(np.where(ok, r * r, 0.0).sum(axis=0), ok.sum(axis=0)))
    has = ok & (rms[None, :] > 0)
    u = div(r, np.broadcast_to(rms[None, :], r.shape))
    estimates = []
    for k in range(r.shape[0]):
        n = has[k].sum()
        if n >= 2:
            m = u[k][has[k]].mean()
            estimates.append((n * m * m - 1.0) / (n - 1.0))
    rho_bar = float(np.mean(estimates)) if estimates else 0.0
    z, z_ok = move_z(s, 12)
    zm = z[z_ok].mean() if z_ok.any() else 0.0
    d = np.full(z.shape, np.tanh(zm) * min(max(rho_bar, 0.0), 1.0))
    ramp = min(max((z_ok.sum() - 1.0) / 4.0, 0.0), 1.0)
    return d, np.abs(d), np.where(z_ok, ramp, 0.0), np.full(z.shape, rho_bar)


@reference("market_breadth", ("close",), 20)
def _breadth(s):
    (close, ok_now), (past, ok_past) = s.lag_value("close", 0), s.lag_value("close", 20)
    ok = ok_now & ok_past & (close > 0) & (past > 0)
    move = np.where(ok, _log(close) - _log(past), 0.0)
    n = ok.sum()
    up, down = (ok & (move > 0)).sum(), (ok & (move < 0)).sum()
    b = np.full(move.shape, (up - down) / n if n else 0.0)
    share = np.full(move.shape, up / n if n else 0.0)
    ramp = min(max((n - 1.0) / 4.0, 0.0), 1.0)
    return b, np.abs(b), np.where(ok, ramp, 0.0), share
