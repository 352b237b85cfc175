"""The liquidation zone engine: the price grid (heatmap, zones, traps, targets), its pictures and
its calibration against realized liquidations."""
