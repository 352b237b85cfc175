"""NumPy references of the funding-clock and session cards."""

from __future__ import annotations

import math

import numpy as np

from tests.reference import RET, move_z, reference


def cyclic(sin_t, cos_t, center):
    return 0.5 + 0.5 * math.cos(math.atan2(sin_t, cos_t) - center)


@reference("pre_funding_pressure", ("funding_rate", "funding_time_left"), 1)
def _pre_funding(s):
    rate, rate_ok = s.lag_value("funding_rate", 0)
    left, left_ok = s.lag_value("funding_time_left", 0)
    d = -np.tanh(rate / 2e-4) * np.exp(-np.maximum(left, 0.0) / 28_800.0)
    return d, np.abs(d), (rate_ok & left_ok) * 1.0, left / 3600.0


@reference("post_funding_reversal", ("close", "funding_time_left"), 8, (RET,))
def _post_funding(s):
    left, left_ok = s.lag_value("funding_time_left", 0)
    since = np.clip(28_800.0 - left, 0.0, 28_800.0)
    z, ok = move_z(s, 8)
    d = -np.tanh(z) * np.exp(-since / 7_200.0)
    return d, np.abs(d), (ok & left_ok) * 1.0, since / 3600.0


@reference("session_momentum", ("close",), 12, (RET,))
def _session(s):
    activity = cyclic(s.clock[0], s.clock[1], 2.0 * math.pi * 15.0 / 24.0)
    z, ok = move_z(s, 12)
    d = np.tanh(z) * activity
    return d, np.abs(d), ok * 1.0, np.full(d.shape, activity)


@reference("weekend_fade", ("close", "volume"), 50, (RET,))
def _weekend(s):
    weekend = cyclic(s.clock[2], s.clock[3], 2.0 * math.pi * 6.0 / 7.0)
    recent = s.window("mean", "volume", 5, offset=1)[0]
    usual = s.window("mean", "volume", 50, offset=1)[0]
    thin = np.where(usual > 0, 2.0 * usual / np.where(usual + recent > 0, usual + recent, 1.0), 1.0)
    z, ok = move_z(s, 24)
    d = np.clip(-np.tanh(z) * weekend * thin, -1.0, 1.0)
    return d, np.abs(d), ok * 1.0, np.full(d.shape, weekend)
