#!/usr/bin/env bash
# `make baselines`: the paper's Table V networks and today's peers (keras_airn.network.baselines), with
# AudioRepInceptionNeXt B1 and B0 (deploy form), all at the paper's VGG-Sound input (512 x 128, 309
# classes) with random weights, through convert.tflite (fp32, int8), convert.onnx (fp32, int8) and
# one interleaved edge.benchmark run; then the tables of docs/baselines.md and its plot.
# int8 is calibrated on noise here (random weights): speed only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=build/baselines
ROUNDS=${ROUNDS:-12}
mkdir -p "$OUT" docs
"$PY" scripts/random_models.py "$OUT"
ARTIFACTS=()
for n in b1 b0; do
  "$PY" -m convert.tflite --model "$OUT/${n}_deploy.keras" --front_end vggsound --out_dir "$OUT/airn_$n" \
      --precisions fp32,int8 --random_calibration
  "$PY" -m convert.onnx --model "$OUT/${n}_deploy.keras" --front_end vggsound --out_dir "$OUT/airn_$n" \
      --precisions fp32,int8 --random_calibration
  ARTIFACTS+=("$OUT/airn_$n/airn_${n}_deploy_spectrogram_fp32.tflite" "$OUT/airn_$n/airn_${n}_deploy_spectrogram_int8.tflite"
              "$OUT/airn_$n/airn_${n}_deploy_spectrogram.onnx" "$OUT/airn_$n/airn_${n}_deploy_spectrogram_int8.onnx")
done
# Every baseline of the network registry (keras_airn.network.registry).
BASELINES=$("$PY" -c "from keras_airn.network.registry import BASELINE, list_networks; print(*list_networks(BASELINE))")
for name in $BASELINES; do
  "$PY" -m convert.tflite --baseline "$name" --out_dir "$OUT/$name" --precisions fp32,int8 --random_calibration
  "$PY" -m convert.onnx --baseline "$name" --out_dir "$OUT/$name" --precisions fp32,int8 --random_calibration
  ARTIFACTS+=("$OUT/$name/${name}_spectrogram_fp32.tflite" "$OUT/$name/${name}_spectrogram_int8.tflite"
              "$OUT/$name/${name}_spectrogram.onnx" "$OUT/$name/${name}_spectrogram_int8.onnx")
done
"$PY" -m edge.benchmark --out_dir "$OUT/results" --rounds "$ROUNDS" --warmup 2 \
    --artifacts "$(IFS=,; echo "${ARTIFACTS[*]}")"
"$PY" -m edge.baselines_report --results "$OUT/results/results.csv" --artifacts_root "$OUT" --doc docs/baselines.md
cp "$OUT/results/latency_vs_macs.png" docs/baselines.png
echo "wrote docs/baselines.md and docs/baselines.png"
