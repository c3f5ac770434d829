"""Benchmark .tflite, .onnx and .keras artifacts the way the TFLite benchmark tool does.

Batch 1, `--num_threads` (default 1), warm-up runs, then timed runs in interleaved rounds (one
inference of every artifact per round) so that the ratios between artifacts hold on a noisy
machine. Reports init time, first run, mean, median, std, min, p90 and resident-memory growth
of each artifact, the ratio of every artifact's median to the first one's, and writes CSV,
markdown and a latency-versus-MACs plot.

Usage:
  python -m edge.benchmark --artifacts export/a.tflite,export/b.onnx,runs/x/model_deploy.keras \
      --out_dir bench [--num_threads 1] [--rounds 30] [--warmup 5]
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from keras_airn import cli  # noqa: E402

ARTIFACTS = flags.DEFINE_list("artifacts", None, "Artifacts to time (.tflite, .onnx, .keras).")
OUT_DIR = flags.DEFINE_string("out_dir", None, "Where to write results.csv, results.md and latency.png.")
THREADS = flags.DEFINE_integer("num_threads", 1, "Threads of every runtime.")
ROUNDS = flags.DEFINE_integer("rounds", 30, "Timed rounds.")
WARMUP = flags.DEFINE_integer("warmup", 5, "Untimed rounds first.")
GPU = flags.DEFINE_bool("gpu", False, "Also time .keras artifacts at batch 32 on a GPU (the paper's method: "
                                       "50 warm-up, 50 timed batches); says so where there is no GPU.")


def main(argv):
    del argv
    from edge.artifact_timing import benchmark, gpu_throughput, write_results
    from keras_airn.machine import machine_description

    if not ARTIFACTS.value or not OUT_DIR.value:
        raise app.UsageError("--artifacts and --out_dir are required.")
    if THREADS.value < 1 or ROUNDS.value < 1 or WARMUP.value < 0:
        raise app.UsageError("--num_threads and --rounds must be at least 1, --warmup at least 0.")
    import tensorflow as tf

    # Before TF starts its pools: .keras artifacts get the same thread budget as the others.
    tf.config.threading.set_intra_op_parallelism_threads(THREADS.value)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS.value)
    rows = benchmark(ARTIFACTS.value, THREADS.value, ROUNDS.value, WARMUP.value)
    if GPU.value:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            print("--gpu: no GPU is visible to TensorFlow on this machine; GPU timing skipped.")
        else:
            for row, path in zip(rows, ARTIFACTS.value):
                if path.endswith(".keras"):
                    row["gpu_samples_per_s"] = gpu_throughput(path)
                    print(f"GPU {row['artifact']}: {row['gpu_samples_per_s']:.0f} samples/s (batch 32)")
    header = (f"Machine: {machine_description()}. Batch 1, {THREADS.value} thread(s), {WARMUP.value} warm-up "
              f"and {ROUNDS.value} interleaved timed rounds; ratio_to_first is the median of per-round "
              f"ratios to {rows[0]['artifact']}.")
    write_results(rows, OUT_DIR.value, header)
    print(open(os.path.join(OUT_DIR.value, "results.md")).read())


if __name__ == "__main__":
    cli.run(main)
