"""Classic indicators inside the cards against TA-Lib, on 720 contiguous one-minute bars."""

from __future__ import annotations

import numpy as np
import pytest

talib = pytest.importorskip("talib")

from bpjax.cards import REGISTRY  # noqa: E402

DAY, MINUTE = 1, 0  # day mode (lookback scale 1): TA-Lib's periods exactly


def _series(scenario):
    bars = scenario.final_bars[MINUTE]
    indices = sorted(bars.bars)
    assert indices == list(range(indices[0], indices[0] + len(indices))), "1 m bars must be contiguous"
    values = np.array([bars.bars[i][0] for i in indices])  # (bar, sym, field)
    from bpjax.core.fields import FIELD_INDEX

    names = ("high", "low", "close", "volume")
    return {name: values[:, :, FIELD_INDEX[name]].T.astype(np.float64) for name in names}


def _value(scenario, card):
    point = scenario.checkpoints[max(scenario.checkpoints)]
    values = np.asarray(point.output["metrics"]["cards"].value)
    return values[scenario.engine.card_names.index(card), DAY, MINUTE, :]


def _expected(function):
    def expected(series):
        return np.array(
            [
                function(series["high"][i], series["low"][i], series["close"][i])
                for i in range(series["close"].shape[0])
            ]
        )

    return expected


def _expected_with_volume(function):
    def expected(series):
        return np.array(
            [
                function(series["high"][i], series["low"][i], series["close"][i], series["volume"][i])
                for i in range(series["close"].shape[0])
            ]
        )

    return expected


CHECKS = {
    "rsi": (_expected(lambda h, lo, c: talib.RSI(c, 14)[-1]), 1e-3, 0.0),
    # a difference of price-level averages: float32 holds it to ~1e-7 of the price ("price")
    "macd": (_expected(lambda h, lo, c: talib.MACDEXT(c, 12, 1, 26, 1, 9, 1)[2][-1]), 1e-3, "price"),
    "stochastic": (_expected(lambda h, lo, c: talib.STOCHF(h, lo, c, 14, 3, 0)[0][-1]), 1e-3, 1e-3),
    "cci": (_expected(lambda h, lo, c: talib.CCI(h, lo, c, 20)[-1]), 2e-3, 1e-2),
    "trix": (_expected(lambda h, lo, c: talib.TRIX(c, 15)[-1]), 2e-2, 2e-5),
    "ultimate_oscillator": (_expected(lambda h, lo, c: talib.ULTOSC(h, lo, c, 7, 14, 28)[-1]), 1e-3, 1e-3),
    "roc": (_expected(lambda h, lo, c: talib.ROC(c, 10)[-1]), 2e-3, 1e-5),
    "atr_expansion": (_expected(lambda h, lo, c: talib.ATR(h, lo, c, 14)[-1]), 1e-3, 0.0),
    "bollinger_percent_b": (
        _expected(
            lambda h, lo, c: (lambda u, m, d: (c[-1] - d[-1]) / (u[-1] - d[-1]))(
                *talib.BBANDS(c, 20, 2.0, 2.0, 0)
            )
        ),
        2e-3,
        2e-3,
    ),
    "keltner_position": (
        _expected(lambda h, lo, c: (c[-1] - talib.EMA(c, 20)[-1]) / (2.0 * talib.ATR(h, lo, c, 10)[-1])),
        2e-3,
        2e-3,
    ),
    "donchian_position": (
        _expected(
            lambda h, lo, c: (
                (c[-1] - 0.5 * (talib.MAX(h[:-1], 20)[-1] + talib.MIN(lo[:-1], 20)[-1]))
                / (0.5 * (talib.MAX(h[:-1], 20)[-1] - talib.MIN(lo[:-1], 20)[-1]))
            )
        ),
        1e-3,
        1e-3,
    ),
    "money_flow_index": (
        _expected_with_volume(lambda h, lo, c, v: talib.MFI(h, lo, c, v, 14)[-1]),
        2e-3,
        1e-2,
    ),
}


@pytest.mark.parametrize("card", sorted(CHECKS))
def test_card_value_matches_talib(minute_scenario, card):
    expected_fn, rtol, atol = CHECKS[card]
    series = _series(minute_scenario)
    expected = expected_fn(series)
    got = _value(minute_scenario, card)
    if atol == "price":
        atol = 1e-6 * series["close"][:, -1]
    assert np.all(np.isfinite(expected))
    error = np.abs(got - expected)
    allowed = atol + rtol * np.abs(expected)
    assert np.all(error <= allowed), f"{card}: got {got}, TA-Lib {expected}, error {error}, allowed {allowed}"


def test_talib_oracle_covers_every_classic_card_in_the_registry():
    classic = {
        "rsi",
        "macd",
        "stochastic",
        "cci",
        "trix",
        "ultimate_oscillator",
        "roc",
        "atr_expansion",
        "bollinger_percent_b",
        "keltner_position",
        "donchian_position",
        "money_flow_index",
    }
    assert classic <= set(REGISTRY.names)
    assert classic == set(CHECKS)
