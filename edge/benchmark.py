"""Benchmark .tflite, .onnx, OpenVINO IR (.xml) and .keras artifacts the way the TFLite benchmark tool does.

Batch 1, `--num_threads` (default 1), warm-up runs, then timed runs in interleaved rounds (one
inference of every artifact per round) so that the ratios between artifacts hold on a noisy
machine. Reports init time, first run, mean, median, std, min, p90 and resident-memory growth
of each artifact, the ratio of every artifact's median to the first one's, and writes CSV,
markdown and a latency-versus-MACs plot. An OpenVINO row names the precision OpenVINO ran it at
(`inference_precision`, read back from the compiled model: "f32", or "bf16" for a bf16 IR on a CPU
with bf16 instructions).

Usage:
  python -m edge.benchmark --artifacts export/a.tflite,export/b.onnx,runs/x/model_deploy.keras \
      --out_dir bench [--num_threads 1] [--rounds 30] [--warmup 5]
  python -m edge.benchmark --artifacts export/m_fp32.tflite,export/m_int8.tflite,export/m.onnx,export/m_int8.onnx \
      --out_dir bench --recommend [--recommend_data clips.csv] [--litert_tool]
  python -m edge.benchmark --artifacts export/m_fp32.tflite,export/m_fp32.xml,export/m_int8.xml --out_dir bench

`--stream_hops 0.25,0.5,1` times live classification instead (`edge.stream_timing`: milliseconds
per hop of a `StreamScorer` and the share of one core at real time) and writes stream.md.

`--recommend` names the fastest artifact whose top-1 agreement with its float model is at least
98 % (`edge.recommend`): on your clips (`--recommend_data`, a path,label CSV or a class-folder
tree), else as the conversion reports measured. `--litert_tool` also times every .tflite with
LiteRT's own benchmark (`ai_edge_litert.tools.benchmark_litert_model`, CompiledModel API, run by
itself) and puts its median beside this tool's.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ chatter; override to debug

from absl import app, flags  # noqa: E402

from keras_airn import cli  # noqa: E402
from keras_airn.inference.artifacts import artifact_kind  # noqa: E402

ARTIFACTS = flags.DEFINE_list("artifacts", None, "Artifacts to time (.tflite, .onnx, OpenVINO .xml, .keras).")
OUT_DIR = flags.DEFINE_string("out_dir", None, "Where to write results.csv, results.md and latency.png.")
THREADS = flags.DEFINE_integer("num_threads", 1, "Threads of every runtime (OpenVINO: INFERENCE_NUM_THREADS).")
ROUNDS = flags.DEFINE_integer("rounds", 30, "Timed rounds.")
WARMUP = flags.DEFINE_integer("warmup", 5, "Untimed rounds first.")
RECOMMEND = flags.DEFINE_bool("recommend", False, "Name the fastest artifact with >= --agreement top-1 agreement.")
RECOMMEND_DATA = flags.DEFINE_string("recommend_data", None, "Clips for --recommend: a path,label[,split] CSV or a "
                                     "folder of class folders (default: the conversion reports' agreement).")
STREAM_HOPS = flags.DEFINE_list("stream_hops", None, "Time live classification at these hops (seconds) "
                                "instead: ms per hop and share of a core (stream.md).")
AGREEMENT = flags.DEFINE_float("agreement", 0.98, "--recommend: least top-1 agreement with the float model.")
LITERT_TOOL = flags.DEFINE_bool("litert_tool", False, "Cross-check .tflite timings with LiteRT's own benchmark tool.")
GPU = flags.DEFINE_bool("gpu", False, "Also time .keras artifacts at batch 32 on a GPU (the paper's method: "
                                       "50 warm-up, 50 timed batches); says so where there is no GPU.")


def main(argv):
    del argv
    from edge.artifact_timing import COLUMNS, benchmark, gpu_throughput, write_results
    from keras_airn.machine import machine_description

    if not ARTIFACTS.value or not OUT_DIR.value:
        raise app.UsageError("--artifacts and --out_dir are required.")
    if THREADS.value < 1 or ROUNDS.value < 1 or WARMUP.value < 0:
        raise app.UsageError("--num_threads and --rounds must be at least 1, --warmup at least 0.")
    import tensorflow as tf

    # Before TF starts its pools: .keras artifacts get the same thread budget as the others.
    tf.config.threading.set_intra_op_parallelism_threads(THREADS.value)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS.value)
    if STREAM_HOPS.value:
        return write_stream_timing([float(hop) for hop in STREAM_HOPS.value])
    examples = recommendation_examples() if RECOMMEND.value else None  # bad data refused before any timing
    rows = benchmark(ARTIFACTS.value, THREADS.value, ROUNDS.value, WARMUP.value)
    if GPU.value:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            print("--gpu: no GPU is visible to TensorFlow on this machine; GPU timing skipped.")
        else:
            for row, path in zip(rows, ARTIFACTS.value):
                if artifact_kind(path) == "keras":
                    row["gpu_samples_per_s"] = gpu_throughput(path)
                    print(f"GPU {row['artifact']}: {row['gpu_samples_per_s']:.0f} samples/s (batch 32)")
    header = (f"Machine: {machine_description()}. Batch 1, {THREADS.value} thread(s), {WARMUP.value} warm-up "
              f"and {ROUNDS.value} interleaved timed rounds; ratio_to_first is the median of per-round "
              f"ratios to {rows[0]['artifact']}.")
    columns = list(COLUMNS)
    if LITERT_TOOL.value:
        from edge.litert_tool import cross_check

        cross_check(rows, ARTIFACTS.value, THREADS.value, ROUNDS.value, WARMUP.value)
        columns += ["litert_tool_median_ms", "litert_tool_vs_this"]
        header += (" litert_tool_median_ms: LiteRT's benchmark_litert_model (CompiledModel API, each model run "
                   "alone, same runs and threads); litert_tool_vs_this: its median over this tool's.")
    write_results(rows, OUT_DIR.value, header, columns)
    if RECOMMEND.value:
        write_recommendation(rows, examples)
    print(open(os.path.join(OUT_DIR.value, "results.md")).read())


def write_stream_timing(hops: list[float]) -> None:
    """stream.md and stream.csv: `edge.stream_timing` of every artifact at every hop."""
    import csv

    from edge.stream_timing import stream_timing
    from keras_airn.machine import machine_description

    if any(not hop > 0 for hop in hops):
        raise app.UsageError(f"--stream_hops must be positive seconds, got {hops}.")
    rows = [row for path in ARTIFACTS.value for row in stream_timing(path, hops, ROUNDS.value, WARMUP.value)]
    os.makedirs(OUT_DIR.value, exist_ok=True)
    columns = ["artifact", "input", "hop_seconds", "median_ms", "p90_ms", "share_of_core"]
    with open(os.path.join(OUT_DIR.value, "stream.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"Machine: {machine_description()}. One StreamScorer per artifact (LiteRT: one thread) fed one hop "
             f"of noise at a time; {ROUNDS.value} timed hops after {WARMUP.value} untimed; share_of_core = median "
             f"ms per hop / hop length.", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    with open(os.path.join(OUT_DIR.value, "stream.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def recommendation_examples():
    """The clips of --recommend_data (every split), or None to use the conversion reports."""
    if not RECOMMEND_DATA.value:
        return None
    from keras_airn.data import datasets

    reader = datasets.read_folder if os.path.isdir(RECOMMEND_DATA.value) else datasets.read_csv
    return [e for split in reader(RECOMMEND_DATA.value).values() for e in split.examples]


def write_recommendation(rows, examples):
    """Adds the recommendation to results.md and recommendation.json.

    Args:
        rows: the benchmark's rows.
        examples: clips to measure agreement on (`recommendation_examples`), or None.
    """
    from edge.recommend import measured_agreement, recommend, reported_agreement
    from keras_airn import files
    from keras_airn.machine import cpu_class

    paths = ARTIFACTS.value
    if examples is not None:
        agreement, basis = measured_agreement(paths, examples), f"{len(examples)} clips of {RECOMMEND_DATA.value}"
    else:
        agreement = {p: reported_agreement(p) for p in paths}
        basis = "the held-out clips of each artifact's conversion report"
    choice = recommend(rows, paths, agreement, AGREEMENT.value)
    choice.update(cpu_class=cpu_class(), agreement_basis=basis)
    files.write_json(os.path.join(OUT_DIR.value, "recommendation.json"), choice)
    text = (f"Recommended on this machine ({choice['cpu_class']}): **{choice['artifact']}**"
            + (f", median {choice['median_ms']:.1f} ms, top-1 agreement {choice['agreement']:.3f}" if choice[
                "artifact"] else "") + f"; {choice['reason']}; agreement from {basis}.")
    with open(os.path.join(OUT_DIR.value, "results.md"), "a") as handle:
        handle.write("\n" + text + "\n")


if __name__ == "__main__":
    cli.run(main)
