"""``bpjax zones-calibrate``: the scoring of one case by hand, a hand-written liquidation log end
to end (no look-ahead, abstentions), and the real liquidation log."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from bpjax.app.cli import main
from bpjax.zones.calibrate import Tally, score_heatmap
from tests.test_import import LIQ_HEADER, liquidation_rows, run_import, write_csv


def test_one_case_scored_by_hand():
    """20 bins 1 % apart around a price of 100 (bin 10). The model's only level is at bin 12; two
    liquidations follow, 300 at bin 12 and 100 at bin 10."""
    grid_log = math.log(100.0) + (np.arange(20) - 10) * 0.01
    heat = np.zeros(20)
    heat[12] = 5.0
    tallies = [Tally(), Tally(), Tally()]
    bands = [(0.0, 0.025), (0.025, 0.3), (0.0, 0.3)]
    score_heatmap(
        tallies.__getitem__, heat, grid_log, 100.0, np.array([12, 10]), np.array([300.0, 100.0]), bands, 0.2
    )
    near = tallies[0].report()  # bins 8-12: 5 bins, the model predicts 1 (its level, bin 12)
    assert near["cases"] == 1 and near["coverage"] == 1.0
    assert near["hit_rate"] == 0.75 and near["precision"] == 1.0
    assert near["baseline"] == {"hit_rate": 0.2, "precision": 0.4}  # 1 of 5 bins; 2 of 5 bins hit
    assert near["nearest"] == {"hit_rate": 0.25, "precision": 1.0}  # bin 10, the price's own
    assert near["lift"] == {"hit_rate": 3.75, "precision": 2.5}
    assert tallies[1].report()["cases"] == 0  # nothing landed 2.5 % away or more
    whole = tallies[2].report()  # 20 bins; one has a level, so one is predicted
    assert whole["hit_rate"] == 0.75 and whole["baseline"] == {"hit_rate": 0.05, "precision": 0.1}

    empty = Tally()
    score_heatmap(
        lambda band: empty, np.zeros(20), grid_log, 100.0, np.array([3]), np.array([50.0]), [(0.0, 0.3)], 0.2
    )
    assert empty.report()["abstained"] == 1 and empty.report()["coverage"] == 0.0
    assert empty.report()["hit_rate"] is None  # no level anywhere: no claim, no score


def calibrate_json(store, *options, capsys):
    assert main(["zones-calibrate", str(store), "--json", "--quiet", *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_repeated_liquidation_level_is_found_and_the_future_is_not_seen(tmp_path, capsys):
    """Longs liquidated at 100, then again at 100 within five minutes, then far below at 80: the
    heatmap (realized levels only: the log has no price, open interest or volume; its forced
    orders' own prices centre the grid) predicts the repeat, and holds nothing near 80 before
    80 traded (no look-ahead): that band is an abstention."""
    log = write_csv(
        tmp_path / "liq.csv",
        LIQ_HEADER,
        liquidation_rows(
            [
                (0, "BTCUSDT", "SELL", 2.0, 100.0, 100.0, 2.0),
                (20, "BTCUSDT", "SELL", 1.0, 100.0, 100.0, 1.0),
                (130, "BTCUSDT", "SELL", 3.0, 100.0, 100.0, 3.0),
                (250, "BTCUSDT", "SELL", 1.0, 80.0, 80.0, 1.0),
                (900, "ETHUSDT", "BUY", 1.0, 3000.0, 3000.0, 1.0),  # the log runs on: horizons fit
            ]
        ),
    )
    run_import("liquidations-csv", [log], tmp_path / "s", symbols_from_data=True, coverage_gap=3600)
    result = calibrate_json(tmp_path / "s", "--horizons", "5m", "--every", "1m", capsys=capsys)
    assert result["events"]["rows"] == 5 and result["sources"]["none"] > 0
    five = result["horizons"]["5m"]
    near = five["bands"][0]  # 0-0.5 %: the repeats at 100
    assert near["cases"] >= 1 and near["hit_rate"] > 0.0
    assert five["all"]["hit_rate"] > five["all"]["baseline"]["hit_rate"]
    far = [b for b in five["bands"] if b["distance"][0] <= math.log(100 / 80) < b["distance"][1]][0]
    assert far["abstained"] >= 1 and far["cases"] == 0 and far["coverage"] == 0.0


def test_bad_calibration_options_are_refused(tmp_path, capsys):
    log = write_csv(tmp_path / "liq.csv", LIQ_HEADER, liquidation_rows([(0, "BTCUSDT", "SELL", 1, 1, 1, 1)]))
    run_import("liquidations-csv", [log], tmp_path / "s", symbols_from_data=True)
    for options in (["--horizons=-5m"], ["--every", "soon"], ["--top-share", "1.5"]):
        assert main(["zones-calibrate", str(tmp_path / "s"), "--quiet", *options]) == 2
        assert "store error" in capsys.readouterr().err


@pytest.mark.slow
def test_the_real_liquidation_log(shared, tmp_path, capsys):
    """The 840 real Binance liquidations: figures for every band, consistent with each other, and
    the heatmap ahead of the uniform baseline over the grid's range (the claim the README makes;
    within a band it is not, see BENCHMARKS.md)."""
    path = os.path.join(shared, "data", "sample", "binance_um_liquidations", "forceorder_2024-08.csv")
    run_import("liquidations-csv", [path], tmp_path / "liq", symbols_from_data=True)
    result = calibrate_json(tmp_path / "liq", "--horizons", "5m,15m", capsys=capsys)
    assert result["sources"]["open_interest"] == result["sources"]["volume"] == 0
    for horizon in result["horizons"].values():
        rows = [*horizon["bands"], horizon["all"]]
        for row in rows:
            for rate in (row["coverage"], row["hit_rate"], row["precision"], *row["baseline"].values()):
                assert rate is None or 0.0 <= rate <= 1.0
        assert horizon["all"]["cases"] >= max(b["cases"] for b in horizon["bands"])
        assert horizon["all"]["hit_rate"] > 2 * horizon["all"]["baseline"]["hit_rate"]
    assert result["beats_baseline"]
