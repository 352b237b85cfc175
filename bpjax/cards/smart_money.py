"""Smart money: large prints (whale taker flow) and top traders against the rest of the market.

Large prints are the taker notional of trades above the venue's size threshold
(``large_buy_notional`` / ``large_sell_notional``, quote units); top-trader ratios are the
long/short ratios of the largest accounts. The cards follow informed traders: a positive
direction means large or top traders are positioned or trading for a rise.
"""

from __future__ import annotations

import jax.numpy as jnp

from bpjax.cards.base import CardInput, log_ratio, output, safe_div
from bpjax.cards.registry import card
from bpjax.features.derivatives import OI_CHANGE, oi_change, oi_windows
from bpjax.features.price import RETURNS, move_windows, move_z
from bpjax.features.streams import Stream
from bpjax.features.windows import Window

LARGE = ("large_buy_notional", "large_sell_notional")


LARGE_BUY_12 = Window("sum", "large_buy_notional", 12)
LARGE_SELL_12 = Window("sum", "large_sell_notional", 12)
TURNOVER_12 = Window("sum", "turnover", 12)
BUY_12 = Window("sum", "buy_volume", 12)
SELL_12 = Window("sum", "sell_volume", 12)
TOP_POSITIONS = Window("lag", "ls_top_positions", 0)
TOP_ACCOUNTS = Window("lag", "ls_top_accounts", 0)
LARGE_IMBALANCE = Stream("large_print_imbalance", 20)
LARGE_SHARE = Stream("large_print_share", 50)


def large_imbalance(x: CardInput):
    """(sum large buy - sum large sell) / (sum large buy + sum large sell) over 12 bars (x mode
    scale), and whether any large print traded. Cards using it declare LARGE_BUY_12 and
    LARGE_SELL_12."""
    buy, sell = x.w(LARGE_BUY_12), x.w(LARGE_SELL_12)
    return safe_div(buy - sell, buy + sell), buy + sell > 0


@card(
    "large_print_imbalance",
    "smart_money",
    lookback=12,
    inputs=LARGE,
    windows=(LARGE_BUY_12, LARGE_SELL_12),
)
def large_print_imbalance(x: CardInput):
    """Net side of the large prints: whales buying or selling.

    Formula: w = (sum LB - sum LS) / (sum LB + sum LS) over n = 12 bars (x mode scale), LB and LS
    the taker-buy and taker-sell notional of large prints. direction = w, strength = |w|.
    Value: w. Confidence: 0 when no large print traded in the window.
    Positive: large takers bought more notional than they sold.
    Reference: Easley, Kiefer, O'Hara & Paperman (1996) on informed trade size.
    """
    w, ok = large_imbalance(x)
    return output(w, jnp.abs(w), ok, w)


@card(
    "large_print_share",
    "smart_money",
    lookback=50,
    inputs=LARGE + ("turnover",),
    streams=(LARGE_SHARE,),
    windows=(LARGE_BUY_12, LARGE_SELL_12, TURNOVER_12),
)
def large_print_share(x: CardInput):
    """Net large-print notional as a share of all turnover, against the usual large-print share.

    Formula: s = (sum LB - sum LS) / sum turnover over n = 12 bars (x mode scale); u = EW mean
    (span 50) of the per-bar large share (LB + LS) / turnover. r = s / u (1 = a window where
    whales, all on one side, trade their usual share of the market). direction = tanh(r),
    strength = |direction|. Value: s.
    Confidence: 0 without turnover or before any large print.
    Positive: whales are net buyers and a larger part of the market than usual.
    """
    buy, sell, turnover = x.w(LARGE_BUY_12), x.w(LARGE_SELL_12), x.w(TURNOVER_12)
    usual = x.mean(LARGE_SHARE)
    share = safe_div(buy - sell, turnover)
    d = jnp.tanh(safe_div(share, usual))
    return output(d, jnp.abs(d), (turnover > 0) & (usual > 0), share)


@card(
    "top_position_concentration",
    "smart_money",
    lookback=1,
    inputs=("ls_top_positions", "ls_top_accounts"),
    windows=(TOP_POSITIONS, TOP_ACCOUNTS),
    params={"full_scale": 0.5},
)
def top_position_concentration(x: CardInput):
    """Top traders' position-weighted lean against their head-count lean: where the size is.

    Formula: c = log(ls_top_positions / ls_top_accounts): the long/short ratio of top traders'
    positions over the long/short ratio of their accounts. c > 0 when the largest of the top
    accounts are longer than the number of long top accounts suggests (size behind the longs).
    direction = tanh(c / full_scale) (full_scale = 0.5), strength = |direction|. Value: c.
    Positive: the biggest top-trader books lean long.
    """
    positions, accounts = x.w(TOP_POSITIONS), x.w(TOP_ACCOUNTS)
    value = log_ratio(positions, accounts)
    d = jnp.tanh(value / x.p("full_scale"))
    return output(d, jnp.abs(d), (positions > 0) & (accounts > 0), value)


@card(
    "whale_retail_divergence",
    "smart_money",
    lookback=12,
    inputs=LARGE + ("buy_volume", "sell_volume"),
    windows=(LARGE_BUY_12, LARGE_SELL_12, BUY_12, SELL_12),
)
def whale_retail_divergence(x: CardInput):
    """Whale flow against the market's taker flow as a whole.

    Formula: over n = 12 bars (x mode scale), w = the large-print imbalance (see
    large_print_imbalance) and t = (sum buy_volume - sum sell_volume) / (sum buy_volume +
    sum sell_volume), the taker imbalance of all trades (dominated by the many small ones);
    u = (w - t) / 2 in [-1, 1]. direction = u, strength = |u|. Value: u.
    Confidence: 0 without a large print or taker volume in the window.
    Positive: whales buy harder than the market's takers do (or buy while the crowd sells).
    """
    w, ok = large_imbalance(x)
    buy, sell = x.w(BUY_12), x.w(SELL_12)
    taker = safe_div(buy - sell, buy + sell)
    value = 0.5 * (w - taker)
    return output(value, jnp.abs(value), ok & (buy + sell > 0), value)


@card(
    "large_print_absorption",
    "smart_money",
    lookback=12,
    inputs=LARGE + ("close",),
    streams=(RETURNS,),
    windows=(LARGE_BUY_12, LARGE_SELL_12) + move_windows(12),
)
def large_print_absorption(x: CardInput):
    """Large prints the price has not followed: accumulation into weakness, distribution into strength.

    Formula: w = large-print imbalance over n = 12 bars (see large_print_imbalance);
    z = vol-normalized price move over the same bars (see roc);
    a = (1 - tanh(z * sign(w))) / 2, the share of the whale side the price failed to follow
    (1 = price moved fully against the prints, 1/2 = flat, 0 = price ran with them).
    direction = w * a, strength = |direction|. Value: a.
    Confidence: 0 without a large print or the close n bars back.
    Positive: whales buying while price holds or falls (their bids absorb the selling).
    """
    w, ok = large_imbalance(x)
    z, move_ok = move_z(x, 12)
    absorbed = 0.5 * (1.0 - jnp.tanh(z * jnp.sign(w)))
    d = w * absorbed
    return output(d, jnp.abs(d), ok & move_ok, absorbed)


@card(
    "large_flow_persistence",
    "smart_money",
    lookback=20,
    inputs=LARGE,
    streams=(LARGE_IMBALANCE,),
)
def large_flow_persistence(x: CardInput):
    """How consistently large prints lean to one side, bar after bar.

    Formula: m and sd = EW mean and std (span 20 x mode scale) of the per-bar large-print
    imbalance (LB - LS) / (LB + LS) (bars without large prints skipped);
    p = m / sqrt(m^2 + sd^2) in [-1, 1]: near +-1 when every bar leans the same way, near 0
    when bars alternate. direction = p, strength = |p|. Value: p.
    Positive: whales have been net buyers persistently.
    """
    mean, sd = x.mean(LARGE_IMBALANCE), x.std(LARGE_IMBALANCE)
    norm = jnp.sqrt(mean * mean + sd * sd)
    value = safe_div(mean, norm)
    return output(value, jnp.abs(value), norm > 0, value)


@card(
    "whale_oi_build",
    "smart_money",
    lookback=12,
    inputs=LARGE + ("open_interest",),
    streams=(OI_CHANGE,),
    windows=(LARGE_BUY_12, LARGE_SELL_12) + oi_windows(12),
)
def whale_oi_build(x: CardInput):
    """Whales opening positions: large-print flow while open interest builds.

    Formula: w = large-print imbalance over n = 12 bars (see large_print_imbalance);
    zo = z of the log change of open interest over the same bars (EW std of 1-bar changes,
    span 50, times sqrt(n)). direction = w * (1 + tanh(zo)) / 2: large buying into rising OI
    is whales opening longs (full weight); into falling OI it is closing (faded).
    strength = |direction|. Value: zo.
    Positive: large takers buy while new positions are being opened.
    """
    w, ok = large_imbalance(x)
    _, oi_z, oi_ok = oi_change(x, 12)
    d = w * 0.5 * (1.0 + jnp.tanh(oi_z))
    return output(d, jnp.abs(d), ok & oi_ok, oi_z)
