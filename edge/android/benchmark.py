"""Benchmark .tflite artifacts on an Android phone with the TFLite `benchmark_model` binary.

Pushes the binary and the artifacts with adb, runs each artifact under every configuration
(`cpu_1t`, `cpu_4t`: XNNPACK at 1 and 4 threads; `builtin_1t`: TFLite's own kernels; `gpu`;
`nnapi`), pulls the logs and writes the same results.csv / results.md / latency.png as
`edge.benchmark`, with the delegate outcome of each run (a delegate that took only part of the
graph, or none of it, is named: its timing is mostly CPU time).

Usage:
  python -m edge.android.benchmark --benchmark_model android_aarch64_benchmark_model \
      --artifacts export/a.tflite,export/b.tflite --out_dir bench_phone [--serial SERIAL]
  python -m edge.android.benchmark --parse_only --out_dir bench_phone   # re-tabulate pulled logs
  ... --dry_run   # print the adb commands without running them
"""

from __future__ import annotations

import os
import shlex

from absl import app, flags

from edge.android.runner import CONFIGS

BINARY = flags.DEFINE_string("benchmark_model", None, "Local path of the benchmark_model binary for the phone's ABI.")
ARTIFACTS = flags.DEFINE_list("artifacts", [], ".tflite artifacts to run.")
ARTIFACTS_DIR = flags.DEFINE_string("artifacts_dir", None, "Also run every .tflite under this folder (sorted), e.g. "
                                    "the whole baseline set `make baselines` writes to build/baselines.")
CONFIG_NAMES = flags.DEFINE_list("configs", list(CONFIGS), f"Configurations, of: {', '.join(CONFIGS)}.")
OUT_DIR = flags.DEFINE_string("out_dir", None, "Results folder; logs go to <out_dir>/logs.")
ADB = flags.DEFINE_string("adb", "adb", "The adb executable.")
SERIAL = flags.DEFINE_string("serial", None, "Device serial (adb -s) when several are attached.")
TASKSET = flags.DEFINE_string("taskset", None, "CPU affinity mask for the runs (e.g. f0 for big cores).")
NUM_RUNS = flags.DEFINE_integer("num_runs", 50, "Timed runs per benchmark.")
WARMUP_RUNS = flags.DEFINE_integer("warmup_runs", 5, "Warm-up runs per benchmark.")
PARSE_ONLY = flags.DEFINE_bool("parse_only", False, "Only tabulate the logs already in <out_dir>/logs.")
DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the adb commands and stop.")


def main(argv):
    del argv
    from edge.android import runner
    from edge.artifact_timing import write_results

    if not OUT_DIR.value:
        raise app.UsageError("--out_dir is required.")
    unknown = sorted(set(CONFIG_NAMES.value) - set(CONFIGS))
    if unknown:
        raise app.UsageError(f"Unknown --configs {unknown}; known: {', '.join(CONFIGS)}.")
    artifacts = list(ARTIFACTS.value) + runner.tflite_files(ARTIFACTS_DIR.value)
    bad = [p for p in artifacts if not p.endswith(".tflite")]
    if bad:
        raise app.UsageError(f"benchmark_model runs .tflite files only: {bad}.")
    log_dir = os.path.join(OUT_DIR.value, "logs")
    target = runner.AndroidTarget(ADB.value, SERIAL.value, taskset=TASKSET.value)
    if not PARSE_ONLY.value:
        if not BINARY.value or not artifacts:
            raise app.UsageError("--benchmark_model and --artifacts are required (or --parse_only).")
        if DRY_RUN.value:
            commands = runner.setup_commands(target, BINARY.value, artifacts)
            for artifact in artifacts:
                for config in CONFIG_NAMES.value:
                    commands += [runner.run_command(target, artifact, config, NUM_RUNS.value, WARMUP_RUNS.value),
                                 runner.pull_command(target, artifact, config, log_dir)]
            print("\n".join(shlex.join(c) for c in commands))
            return
        runner.run_on_phone(target, BINARY.value, artifacts, CONFIG_NAMES.value, log_dir,
                            NUM_RUNS.value, WARMUP_RUNS.value)
    if not os.path.isdir(log_dir):
        raise app.UsageError(f"No logs at {log_dir}.")
    rows = runner.collect_rows(log_dir, artifacts or None)
    if not rows:
        raise app.UsageError(f"No <artifact>__<config>.log files in {log_dir}.")
    header = (f"Phone run with TFLite benchmark_model ({WARMUP_RUNS.value} warm-up, {NUM_RUNS.value} timed runs "
              f"per row, batch 1); ratio_to_first is the mean over the first artifact's mean in the same "
              f"configuration (runs are sequential, not interleaved). Logs: {log_dir}.")
    write_results(rows, OUT_DIR.value, header, columns=runner.COLUMNS, machine="Android phone, benchmark_model")
    print(open(os.path.join(OUT_DIR.value, "results.md")).read())


if __name__ == "__main__":
    app.run(main)
