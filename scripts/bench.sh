#!/usr/bin/env bash
# `make bench`: builds B0 and B1 (random weights and BatchNorm statistics: speed does not depend on
# them), exports train- and deploy-form fp32 TFLite, deploy int8 TFLite (calibrated on noise:
# for speed only) and deploy ONNX, benchmarks each set single-threaded in one interleaved run,
# and writes docs/benchmarks.md with the tables and plots. TFLite exports use the transposed
# time-axis layout (convert.tflite --time_as_rows, the default); one deploy fp32 export without
# it (rows "<name>_columns/...") measures what that layout gains.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=build/bench
mkdir -p "$OUT" docs
"$PY" - <<'PY'
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras_airn as ka
from tests.helpers import randomize_batchnorm
for name in ("b0", "b1"):
    model = randomize_batchnorm(ka.create_model(name, num_classes=309), seed=0)
    model.save(f"build/bench/{name}_train.keras")
    ka.reparameterize(model).save(f"build/bench/{name}_deploy.keras")
PY
{
  echo "# Benchmarks"
  echo
  echo "Command: \`make bench\` (scripts/bench.sh). Random weights; 309 classes; input 512 x 128."
  echo "int8 is calibrated on noise here, so only its speed is meaningful (accuracy: README)."
  echo
} > docs/benchmarks.md
for n in b0 b1; do
  FE=--front_end=vggsound
  "$PY" -m convert.tflite --model "$OUT/${n}_deploy.keras" $FE --out_dir "$OUT/$n" --precisions fp32,int8 --random_calibration
  "$PY" -m convert.tflite --model "$OUT/${n}_train.keras" $FE --keep_train_form --out_dir "$OUT/${n}_train" --precisions fp32
  # The same deploy fp32 export without the transposed time-axis layout, for the A/B ratio.
  "$PY" -m convert.tflite --model "$OUT/${n}_deploy.keras" $FE --notime_as_rows --out_dir "$OUT/${n}_columns" --precisions fp32
  "$PY" -m convert.onnx --model "$OUT/${n}_deploy.keras" $FE --out_dir "$OUT/$n"
  "$PY" -m edge.benchmark --out_dir "$OUT/results_$n" --rounds 40 --warmup 5 --artifacts \
"$OUT/$n/airn_${n}_deploy_spectrogram_fp32.tflite,$OUT/${n}_columns/airn_${n}_deploy_spectrogram_fp32.tflite,\
$OUT/${n}_train/airn_${n}_train_spectrogram_fp32.tflite,\
$OUT/$n/airn_${n}_deploy_spectrogram_int8.tflite,$OUT/$n/airn_${n}_deploy_spectrogram.onnx,\
$OUT/${n}_deploy.keras,$OUT/${n}_train.keras"
  cp "$OUT/results_$n/latency.png" "docs/benchmarks_$n.png"
  { echo "## ${n^^}"; echo; cat "$OUT/results_$n/results.md"; echo; echo "![latency against MACs](benchmarks_$n.png)"; echo; } >> docs/benchmarks.md
done
echo "wrote docs/benchmarks.md"
