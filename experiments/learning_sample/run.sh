#!/usr/bin/env bash
# Walk-forward learning of the category weights on the real 21-symbol, 80-day Binance 5 m sample.
# Run from the repository root: bash experiments/learning_sample/run.sh  (about 4 minutes on 2 cores)
set -euo pipefail
D=${BPJAX_SHARED:-../shared}/data/sample/binance_um_bars
OUT=experiments/learning_sample
WORK=${WORK:-/tmp/bpjax-learning-sample}
mkdir -p "$WORK"
if [ ! -d "$WORK/sample.zarr" ]; then
  bpjax import --from bars-parquet --in "$D/candles_5m.parquet" --out "$WORK/sample.zarr" --symbols-from-data --quiet
  bpjax import --from bars-parquet --in "$D/funding.parquet" "$D/mark_1h.parquet" --out "$WORK/sample.zarr" \
    --skip-other-symbols --quiet
fi
# signed weights: the same settings, but a category may be weighted against its own direction
sed 's/^weight_min = 0.0 /weight_min = -4.0/' configs/default.toml > "$WORK/signed.toml"
for mode in scalp day swing; do
  mkdir -p "$OUT/$mode"
  bpjax train --recording "$WORK/sample.zarr" --mode "$mode" --cache "$WORK/history.npz" \
    --out "$OUT/weights.json" --report "$OUT/$mode" --json --quiet > "$OUT/$mode/result.json"
done
mkdir -p "$OUT/day-signed"
bpjax train --recording "$WORK/sample.zarr" --mode day --config "$WORK/signed.toml" --cache "$WORK/history.npz" \
  --report "$OUT/day-signed" --json --quiet > "$OUT/day-signed/result.json"
python3 experiments/learning_sample/summarize.py > "$OUT/results.md"
