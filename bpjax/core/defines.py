"""Constants shared by every layer: venues, sides, feed groups, categories, states, status bits.

One module, as cryptofeed's ``defines.py``: nothing else spells these strings.
"""

from __future__ import annotations

# --- venues -----------------------------------------------------------------------------------
BINANCE = "binance"
BYBIT = "bybit"
OKX = "okx"
SIMULATOR = "sim"
VENUES: tuple[str, ...] = (BINANCE, BYBIT, OKX)

# --- trade and liquidation sides ----------------------------------------------------------------
# Trades carry the *taker* side. Liquidations carry the side of the *position* that was closed.
TAKER_BUY = 1
TAKER_SELL = -1
LONG_LIQUIDATED = -1  # a long position force-closed: the venue sold
SHORT_LIQUIDATED = 1  # a short position force-closed: the venue bought

# --- positioning ratio kinds (Binance futures/data endpoints) ------------------------------------
RATIO_GLOBAL_ACCOUNTS = "global_accounts"
RATIO_TOP_ACCOUNTS = "top_accounts"
RATIO_TOP_POSITIONS = "top_positions"
RATIO_TAKER = "taker"
RATIO_KINDS: tuple[str, ...] = (
    RATIO_GLOBAL_ACCOUNTS,
    RATIO_TOP_ACCOUNTS,
    RATIO_TOP_POSITIONS,
    RATIO_TAKER,
)

# --- feed groups: each snapshot field belongs to exactly one; staleness is tracked per group -----
FEED_TRADES = "trades"
FEED_BOOK = "book"
FEED_MARK = "mark"
FEED_FUNDING = "funding"
FEED_OPEN_INTEREST = "open_interest"
FEED_LIQUIDATIONS = "liquidations"
FEED_POSITIONING = "positioning"
FEED_GROUPS: tuple[str, ...] = (
    FEED_TRADES,
    FEED_BOOK,
    FEED_MARK,
    FEED_FUNDING,
    FEED_OPEN_INTEREST,
    FEED_LIQUIDATIONS,
    FEED_POSITIONING,
) + tuple(f"venue_{venue}" for venue in VENUES)

# --- book depth bands, in basis points from mid --------------------------------------------------
DEPTH_BANDS_BPS: tuple[int, ...] = (10, 50, 200)

# --- the 25 card categories, in catalogue order -----------------------------
CATEGORIES: tuple[str, ...] = (
    "price_momentum",
    "trend",
    "mean_reversion",
    "volatility",
    "volume",
    "order_flow",
    "order_book",
    "liquidation",
    "funding_rate",
    "open_interest",
    "basis",
    "positioning",
    "smart_money",
    "cross_exchange",
    "market_structure",
    "zones",
    "volume_profile",
    "vwap",
    "candles",
    "regime",
    "correlation",
    "relative_strength",
    "liquidity",
    "funding_clock",
    "composite_alpha",
)

# --- per (symbol, mode) trading states, in priority order for the single `state` label ------------
STATE_NEUTRAL = "neutral"
STATE_TRENDING = "trending"
STATE_DECELERATION = "deceleration"
STATE_TRANSITION = "transition"
STATE_EXHAUSTION = "exhaustion"
STATE_CONFLICTED = "conflicted"
# index = the integer code carried in TickOutput.state
STATES: tuple[str, ...] = (
    STATE_NEUTRAL,
    STATE_TRENDING,
    STATE_DECELERATION,
    STATE_TRANSITION,
    STATE_EXHAUSTION,
    STATE_CONFLICTED,
)

# --- per-symbol status bits raised inside the tick (the tick never raises) -----------------------
STATUS_NONFINITE_INPUT = 1 << 0  # a snapshot value was NaN/inf and was masked
STATUS_STALE_PRICE = 1 << 1  # no fresh trade price this tick
STATUS_STALE_DERIVATIVES = 1 << 2  # mark/funding/open interest missing this tick
STATUS_INSUFFICIENT_HISTORY = 1 << 3  # the price history is still warming up
STATUS_NONFINITE_CARD = 1 << 4  # a card produced NaN/inf (replaced by neutral)
STATUS_IMPLAUSIBLE_INPUT = 1 << 5  # a finite snapshot value outside its unit's range was masked
STATUS_BITS: dict[str, int] = {
    "nonfinite_input": STATUS_NONFINITE_INPUT,
    "stale_price": STATUS_STALE_PRICE,
    "stale_derivatives": STATUS_STALE_DERIVATIVES,
    "insufficient_history": STATUS_INSUFFICIENT_HISTORY,
    "nonfinite_card": STATUS_NONFINITE_CARD,
    "implausible_input": STATUS_IMPLAUSIBLE_INPUT,
}
