"""Float64 references of the smart_money cards, from their docstrings."""

from __future__ import annotations

import numpy as np

from tests.reference import RET, F, div, move_z, oi_change, reference, reference_series

LARGE = ("large_buy_notional", "large_sell_notional")
IMBALANCE = ("ema", "large_print_imbalance", 20)
SHARE = ("ema", "large_print_share", 50)
OI_CHANGE = ("ema", "oi_log_change", 50)


@reference_series("large_print_imbalance")
def _imbalance_series(bar, ok, prev, prev_ok):
    buy, sell = bar[..., F["large_buy_notional"]], bar[..., F["large_sell_notional"]]
    good = ok[..., F["large_buy_notional"]] & ok[..., F["large_sell_notional"]] & (buy + sell > 0)
    return np.where(good, div(buy - sell, buy + sell), 0.0), good


@reference_series("large_print_share")
def _share_series(bar, ok, prev, prev_ok):
    turnover = bar[..., F["turnover"]]
    large = bar[..., F["large_buy_notional"]] + bar[..., F["large_sell_notional"]]
    good = ok[..., F["large_buy_notional"]] & ok[..., F["large_sell_notional"]] & ok[..., F["turnover"]]
    good = good & (turnover > 0)
    return np.where(good, div(large, turnover), 0.0), good


def _sum(s, name, n=12):
    return s.window("sum", name, n)[0]


def _imbalance(s):
    buy, sell = _sum(s, "large_buy_notional"), _sum(s, "large_sell_notional")
    return div(buy - sell, buy + sell), buy + sell > 0


@reference("large_print_imbalance", LARGE, 12)
def _large_print_imbalance(s):
    w, ok = _imbalance(s)
    return w, np.abs(w), ok * 1.0, w


@reference("large_print_share", LARGE + ("turnover",), 50, (SHARE,))
def _large_print_share(s):
    buy, sell, turnover = _sum(s, "large_buy_notional"), _sum(s, "large_sell_notional"), _sum(s, "turnover")
    usual = s.stream(SHARE)[0]
    share = div(buy - sell, turnover)
    d = np.tanh(div(share, usual))
    return d, np.abs(d), ((turnover > 0) & (usual > 0)) * 1.0, share


@reference("top_position_concentration", ("ls_top_positions", "ls_top_accounts"), 1)
def _top_position_concentration(s):
    positions, accounts = s.lag_value("ls_top_positions", 0)[0], s.lag_value("ls_top_accounts", 0)[0]
    good = (positions > 0) & (accounts > 0)
    value = np.where(good, np.log(np.where(good, positions, 1.0) / np.where(good, accounts, 1.0)), 0.0)
    d = np.tanh(value / 0.5)
    return d, np.abs(d), good * 1.0, value


@reference("whale_retail_divergence", LARGE + ("buy_volume", "sell_volume"), 12)
def _whale_retail_divergence(s):
    w, ok = _imbalance(s)
    buy, sell = _sum(s, "buy_volume"), _sum(s, "sell_volume")
    value = 0.5 * (w - div(buy - sell, buy + sell))
    return value, np.abs(value), (ok & (buy + sell > 0)) * 1.0, value


@reference("large_print_absorption", LARGE + ("close",), 12, (RET,))
def _large_print_absorption(s):
    w, ok = _imbalance(s)
    z, move_ok = move_z(s, 12)
    absorbed = 0.5 * (1.0 - np.tanh(z * np.sign(w)))
    d = w * absorbed
    return d, np.abs(d), (ok & move_ok) * 1.0, absorbed


@reference("large_flow_persistence", LARGE, 20, (IMBALANCE,))
def _large_flow_persistence(s):
    mean, sd, _, _ = s.stream(IMBALANCE)
    norm = np.sqrt(mean * mean + sd * sd)
    value = div(mean, norm)
    return value, np.abs(value), (norm > 0) * 1.0, value


@reference("whale_oi_build", LARGE + ("open_interest",), 12, (OI_CHANGE,))
def _whale_oi_build(s):
    w, ok = _imbalance(s)
    _, oz, oi_ok = oi_change(s, 12)
    d = w * 0.5 * (1.0 + np.tanh(oz))
    return d, np.abs(d), (ok & oi_ok) * 1.0, oz
