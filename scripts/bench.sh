#!/usr/bin/env bash
# `make bench`: builds B0 and B1 (random weights and BatchNorm statistics: speed does not depend on
# them) and times, per model, in one interleaved single-threaded run:
# - LiteRT fp32 deploy (time axis as rows, the default), the same without that layout
#   ("<name>_columns/..."), the train form;
# - LiteRT int8 deploy (convert.tflite: per-channel, head float), and what else the converter
#   allows (scripts/int8_variants.py: per-tensor, depthwise in float, 16x8);
# - onnxruntime fp32 and int8 (convert.onnx, tf2onnx), and the release's PyTorch architecture
#   exported by torch.onnx with its int8 (scripts/int8_variants.py);
# - OpenVINO IR fp32 (f32 set explicitly), int8 (NNCF) and, where the CPU has bf16, bf16
#   (convert.openvino), and OpenVINO reading the release's ONNX export, fp32 and NNCF int8;
# - the Keras deploy and train models;
# with LiteRT's own benchmark beside every .tflite (--litert_tool) and the recommendation for this
# machine (--recommend). int8 is calibrated on noise here, so only its speed is meaningful
# (agreement: docs/conversion.md). Writes the generated section of docs/benchmarks.md (between its
# `<!-- make-bench:start -->` and `<!-- make-bench:end -->` lines; the hand-written sections around
# it stay) and its plots.
OUT=build/bench
ROUNDS=${ROUNDS:-40}
DOC=docs/benchmarks.md
SECTION=make-bench
source "$(dirname "$0")/random_models.sh"
bash scripts/doc_section.sh "$DOC" "$SECTION" --check  # before the long run, not after it
CLASS=$("$PY" -c "from keras_airn.machine import cpu_class; print(cpu_class())")
OV_PRECISIONS=$("$PY" -c "from keras_airn.export.openvino import bf16_refusal; print('fp32,int8' + ('' if bf16_refusal() else ',bf16'))")
GEN="$OUT/benchmarks_generated.md"
{
  echo "Command: \`make bench\` (scripts/bench.sh). Random weights; 309 classes; input 512 x 128; one thread."
  echo "int8 is calibrated on noise here, so only its speed is meaningful (agreement: docs/conversion.md)."
  echo "CPU class of this run: **$CLASS**. int8 and fp32 ratios differ between classes: compare rows of one run."
  echo
} > "$GEN"
for n in b0 b1; do
  FE=--front_end=vggsound
  "$PY" -m convert.tflite --model "$OUT/${n}_deploy.keras" $FE --out_dir "$OUT/$n" --precisions fp32,int8 --random_calibration
  "$PY" -m convert.tflite --model "$OUT/${n}_train.keras" $FE --keep_train_form --out_dir "$OUT/${n}_train" --precisions fp32
  # The same deploy fp32 export without the transposed time-axis layout, for the A/B ratio.
  "$PY" -m convert.tflite --model "$OUT/${n}_deploy.keras" $FE --notime_as_rows --out_dir "$OUT/${n}_columns" --precisions fp32
  "$PY" -m convert.onnx --model "$OUT/${n}_deploy.keras" $FE --out_dir "$OUT/$n" --precisions fp32,int8 --random_calibration
  "$PY" -m convert.openvino --model "$OUT/${n}_deploy.keras" $FE --out_dir "$OUT/$n" --precisions "$OV_PRECISIONS" --random_calibration
  "$PY" scripts/int8_variants.py --model "$OUT/${n}_train.keras" --out_dir "$OUT/${n}_variants"
  D="$OUT/$n/airn_${n}_deploy_spectrogram"
  V="$OUT/${n}_variants/airn_${n}"
  BF16=""
  [[ "$OV_PRECISIONS" == *bf16 ]] && BF16="${D}_bf16.xml,"
  "$PY" -m edge.benchmark --out_dir "$OUT/results_$n" --rounds "$ROUNDS" --warmup 5 --litert_tool --recommend --artifacts \
"${D}_fp32.tflite,$OUT/${n}_columns/airn_${n}_deploy_spectrogram_fp32.tflite,\
$OUT/${n}_train/airn_${n}_train_spectrogram_fp32.tflite,${D}_int8.tflite,\
${V}_int8_per_tensor.tflite,${V}_int8_float_dw.tflite,${V}_int8_16x8.tflite,\
${D}.onnx,${D}_int8.onnx,${V}_release.onnx,${V}_release_int8.onnx,${D}_fp32.xml,${D}_int8.xml,$BF16\
${V}_release_fp32.xml,${V}_release_int8.xml,$OUT/${n}_deploy.keras,$OUT/${n}_train.keras"
  cp "$OUT/results_$n/latency.png" "docs/benchmarks_$n.png"
  { echo "### ${n^^}"; echo; cat "$OUT/results_$n/results.md"; echo; echo "![latency per artifact](benchmarks_$n.png)"; echo; } >> "$GEN"
done
bash scripts/doc_section.sh "$DOC" "$SECTION" < "$GEN"
echo "wrote the generated section of $DOC"
