"""Float64 references of the volume_profile cards, from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import RET, F, div, from_z, move_z, reference, reference_series

HLCV = ("high", "low", "close", "volume")


def _typical(bar, ok):
    good = ok[..., F["high"]] & ok[..., F["low"]] & ok[..., F["close"]] & ok[..., F["volume"]]
    typical = (bar[..., F["high"]] + bar[..., F["low"]] + bar[..., F["close"]]) / 3.0
    return typical, bar[..., F["volume"]], good


@reference_series("profile_volume_typical")
def _volume_typical(bar, ok, prev, prev_ok):
    typical, volume, good = _typical(bar, ok)
    return np.where(good, volume * typical, 0.0), good


@reference_series("profile_volume_square")
def _volume_square(bar, ok, prev, prev_ok):
    _, volume, good = _typical(bar, ok)
    return np.where(good, volume * volume, 0.0), good


@reference_series("profile_volume_square_typical")
def _volume_square_typical(bar, ok, prev, prev_ok):
    typical, volume, good = _typical(bar, ok)
    return np.where(good, volume * volume * typical, 0.0), good


def _poc(s):
    square = s.window("sum", "profile_volume_square", 50)[0]
    poc = div(s.window("sum", "profile_volume_square_typical", 50)[0], square)
    return poc, s.window("std", "typical_price", 50)[0], square


@reference("poc_distance", HLCV, 50)
def _poc_distance(s):
    poc, sd, square = _poc(s)
    value = div(s.lag_value("close", 0)[0] - poc, sd)
    d, st = from_z(value)
    return d, st, ((sd > 0) & (square > 0)) * 1.0, value


@reference("value_area_position", HLCV, 24)
def _value_area_position(s):
    volume = s.window("sum", "volume", 24)[0]
    sd = s.window("std", "typical_price", 24)[0]
    centre = div(s.window("sum", "profile_volume_typical", 24)[0], volume)
    u = div(s.lag_value("close", 0)[0] - centre, sd)
    d = np.clip(u * (np.abs(u) - 1.0), -1.0, 1.0)
    return d, np.abs(d), ((sd > 0) & (volume > 0)) * 1.0, u


@reference("high_volume_node", HLCV, 50)
def _high_volume_node(s):
    node, sd, square = _poc(s)
    volume = s.window("sum", "volume", 50)[0]
    bars = s.window("count", "profile_volume_square", 50)[0]
    concentration = np.clip(1.0 - div(volume * volume, bars * square, 1.0), 0.0, 1.0)
    y = div(s.lag_value("close", 0)[0] - node, sd)
    d = np.tanh(2.0 * y) * np.exp(-0.5 * y * y) * np.tanh(concentration / 0.2)
    return d, np.abs(d), ((sd > 0) & (square > 0)) * 1.0, y


@reference("low_volume_node", ("close", "volume"), 50, (RET,))
def _low_volume_node(s):
    usual = s.window("mean", "volume", 50)[0]
    r = div(s.window("mean", "volume", 5)[0], usual, 1.0)
    thin = np.clip(1.0 - r, 0.0, 1.0)
    z, ok = move_z(s, 5)
    d = np.tanh(z) * thin
    return d, np.abs(d), (ok & (usual > 0)) * 1.0, r


@reference("profile_skew", HLCV, 50)
def _profile_skew(s):
    volume = s.window("sum", "volume", 50)[0]
    sd = s.window("std", "typical_price", 50)[0]
    centre = div(s.window("sum", "profile_volume_typical", 50)[0], volume)
    k = div(s.window("mean", "typical_price", 50)[0] - centre, sd)
    d = np.tanh(2.0 * k)
    return d, np.abs(d), ((sd > 0) & (volume > 0)) * 1.0, centre
