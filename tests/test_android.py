"""edge.android: the benchmark_model log parser, the adb command construction, logs -> table.

No phone is reachable here: the logs below follow the output format of the TFLite benchmark tool
(its README and benchmark_tflite_model.cc), in the variants its versions print.
"""

import os
import subprocess
import sys

import pytest

from edge.android import runner
from edge.android.benchmark_log import BenchmarkLogError, parse

# A recent build: log prefixes, percentiles, "Memory footprint delta", periodic peak monitoring.
XNNPACK_LOG = """INFO: STARTING!
INFO: Num threads: [1]
INFO: Graph: [/data/local/tmp/keras_airn/airn_b1_deploy_spectrogram_fp32.tflite]
INFO: Use xnnpack: [1]
INFO: Loaded model /data/local/tmp/keras_airn/airn_b1_deploy_spectrogram_fp32.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: XNNPACK delegate created.
INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.
INFO: The input model file size (MB): 46.8
INFO: Initialized session in 95.4ms.
INFO: Running benchmark for at least 5 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=9 first=131000 curr=120500 min=119800 max=131000 avg=121900 std=3400 p5=119800 median=120600 p95=131000

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=120100 curr=119900 min=118700 max=126300 avg=120250.5 std=1410 p5=118900 median=120000 p95=123400

INFO: Inference timings in us: Init: 95400, First inference: 131000, Warmup (avg): 121900, Inference (avg): 120250.5
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=52.1 overall=60.25
INFO: Overall peak memory footprint (MB) via periodic monitoring: 63.5
"""

# An older build through adb: CRLF, no prefix, exponent form, "Peak memory footprint", a partial delegate.
NNAPI_PARTIAL_LOG = (
    "STARTING!\r\nNum threads: [1]\r\nUse nnapi: [1]\r\n"
    "Explicitly applied NNAPI delegate, and the model graph will be partially executed by the delegate w/ 3 "
    "delegate kernels.\r\n"
    "count=50 first=2990275 curr=2913402 min=2727568 max=3189954 avg=2.95034e+06 std=109798\r\n\r\n"
    "Inference timings in us: Init: 17187, First inference: 3512391, Warmup (avg): 3.51239e+06, "
    "Inference (avg): 2.95034e+06\r\n"
    "Peak memory footprint (MB): init=4.21094 overall=46.0859\r\n"
)

GPU_REFUSED_LOG = """INFO: Created TensorFlow Lite delegate for GPU.
INFO: Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate.
INFO: count=50 first=61000 curr=60000 min=59000 max=64000 avg=60500 std=900
INFO: Inference timings in us: Init: 900000, First inference: 61000, Warmup (avg): 61000, Inference (avg): 60500
"""

GPU_FAILED_LOG = """INFO: Created TensorFlow Lite delegate for GPU.
ERROR: Following operations are not supported by GPU delegate:
ERROR: Failed to apply GPU delegate.
ERROR: Benchmarking failed.
"""


def test_parses_recent_format_with_percentiles_and_peak_memory():
    log = parse(XNNPACK_LOG)
    assert (log.init_us, log.first_us, log.warmup_avg_us, log.avg_us) == (95400, 131000, 121900, 120250.5)
    # The timed runs' statistics, not the warm-up's.
    assert (log.count, log.min_us, log.max_us, log.std_us) == (50, 118700, 126300, 1410)
    assert (log.median_us, log.p95_us) == (120000, 123400)
    assert (log.memory_init_mb, log.memory_overall_mb, log.peak_memory_mb) == (52.1, 60.25, 63.5)
    assert [str(d) for d in log.delegates] == ["XNNPACK: full"] and not log.fell_back


def test_parses_older_format_crlf_exponents_and_partial_delegate():
    log = parse(NNAPI_PARTIAL_LOG)
    assert log.avg_us == pytest.approx(2.95034e6) and log.warmup_avg_us == pytest.approx(3.51239e6)
    assert log.count == 50 and log.median_us is None and log.min_us == 2727568
    assert (log.memory_init_mb, log.memory_overall_mb, log.peak_memory_mb) == (4.21094, 46.0859, None)
    assert log.delegates[0].status == "partial" and log.delegates[0].kernels == 3 and log.fell_back


def test_delegate_that_took_nothing_is_reported_as_fallback():
    log = parse(GPU_REFUSED_LOG)
    assert log.avg_us == 60500 and [str(d) for d in log.delegates] == ["GPU: none"] and log.fell_back


@pytest.mark.parametrize("text, reason", [
    (GPU_FAILED_LOG, "GPU: failed"),
    (XNNPACK_LOG.split("INFO: Inference timings")[0], "run cut off"),
    ("ERROR: Failed to mmap model /data/local/tmp/keras_airn/x.tflite\n", "Failed to mmap model"),
])
def test_runs_without_timings_raise_with_the_tools_reason(text, reason):
    with pytest.raises(BenchmarkLogError, match=reason):
        parse(text)


def test_commands_push_run_and_pull_with_the_requested_configuration():
    target = runner.AndroidTarget(adb="/opt/adb", serial="R5CT", taskset="f0")
    setup = runner.setup_commands(target, "bin/benchmark_model", ["out/a.tflite", "out/b.tflite"])
    assert setup[1] == ["/opt/adb", "-s", "R5CT", "push", "bin/benchmark_model",
                        "/data/local/tmp/keras_airn/benchmark_model"]
    assert setup[2][-1] == "chmod +x /data/local/tmp/keras_airn/benchmark_model"
    assert [c[-1] for c in setup[3:]] == ["/data/local/tmp/keras_airn/a.tflite", "/data/local/tmp/keras_airn/b.tflite"]

    run = runner.run_command(target, "out/a.tflite", "cpu_4t", num_runs=20, warmup_runs=3)
    assert run[:4] == ["/opt/adb", "-s", "R5CT", "shell"] and len(run) == 5
    shell = run[4]
    assert shell.startswith("taskset f0 /data/local/tmp/keras_airn/benchmark_model ")
    for expected in ("--graph=/data/local/tmp/keras_airn/a.tflite", "--num_threads=4", "--use_xnnpack=true",
                     "--num_runs=20", "--warmup_runs=3",
                     "> /data/local/tmp/keras_airn/logs/a__cpu_4t.log 2>&1"):
        assert expected in shell
    gpu = runner.run_command(runner.AndroidTarget(), "a.tflite", "gpu")[-1]
    assert "--use_gpu=true" in gpu and "--num_threads" not in gpu and not gpu.startswith("taskset")
    assert "--use_nnapi=true" in runner.run_command(runner.AndroidTarget(), "a.tflite", "nnapi")[-1]
    assert runner.pull_command(target, "out/a.tflite", "gpu", "logs")[-2:] == [
        "/data/local/tmp/keras_airn/logs/a__gpu.log", os.path.join("logs", "a__gpu.log")]
    with pytest.raises(ValueError, match="Unknown configuration 'vulkan'"):
        runner.run_command(target, "a.tflite", "vulkan")


def _write_logs(log_dir):
    os.makedirs(log_dir)
    for name, text in [("deploy__cpu_1t", XNNPACK_LOG), ("train__cpu_1t", XNNPACK_LOG.replace("120250.5", "150312.5")),
                       ("deploy__gpu", GPU_REFUSED_LOG), ("train__gpu", GPU_FAILED_LOG), ("notes.txt", "x")]:
        with open(os.path.join(log_dir, name if "." in name else name + ".log"), "w") as handle:
            handle.write(text)


def test_logs_become_the_benchmark_table(tmp_path):
    _write_logs(tmp_path / "logs")
    rows = runner.collect_rows(str(tmp_path / "logs"))
    assert [(r["artifact"], r["config"]) for r in rows] == [
        ("deploy", "cpu_1t"), ("deploy", "gpu"), ("train", "cpu_1t"), ("train", "gpu")]
    deploy, gpu, train, failed = rows
    assert deploy["mean_ms"] == pytest.approx(120.2505) and deploy["memory_mb"] == 63.5
    assert train["ratio_to_first"] == pytest.approx(150.3125 / 120.2505) and deploy["ratio_to_first"] == 1.0
    assert gpu["delegate"] == "GPU: none" and gpu["median_ms"] is None
    assert failed["delegate"].startswith("run failed: GPU: failed") and "mean_ms" not in failed


def test_cli_tabulates_pulled_logs_and_prints_dry_run_commands(tmp_path):
    _write_logs(tmp_path / "logs")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cli = [sys.executable, "-m", "edge.android.benchmark", "--out_dir", str(tmp_path)]
    subprocess.run(cli + ["--parse_only"], check=True, capture_output=True, env=env)
    table = (tmp_path / "results.md").read_text()
    assert "| artifact | config | delegate |" in table and "run failed: GPU: failed" in table
    assert (tmp_path / "results.csv").read_text().count("\n") == 5
    dry = subprocess.run(cli + ["--dry_run", "--benchmark_model", "bm", "--artifacts", "m.tflite",
                                "--configs", "cpu_1t,nnapi"], check=True, capture_output=True, text=True, env=env)
    assert dry.stdout.count("--graph=/data/local/tmp/keras_airn/m.tflite") == 2
    bad = subprocess.run(cli + ["--dry_run", "--benchmark_model", "bm", "--artifacts", "m.onnx"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "runs .tflite files only" in bad.stderr


def test_artifacts_dir_takes_every_tflite_under_it(tmp_path):
    for relative in ("slowfast/slowfast_spectrogram_fp32.tflite", "airn_b1/airn_b1_deploy_spectrogram_int8.tflite",
                     "airn_b1/airn_b1_deploy_spectrogram.onnx", "airn_b1/report.json"):
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    found = runner.tflite_files(str(tmp_path))
    assert [os.path.relpath(p, tmp_path) for p in found] == [
        "airn_b1/airn_b1_deploy_spectrogram_int8.tflite", "slowfast/slowfast_spectrogram_fp32.tflite"]
    assert runner.tflite_files(None) == []
    with pytest.raises(FileNotFoundError, match="No .tflite files"):
        runner.tflite_files(str(tmp_path / "airn_b1" / "empty_dir_that_is_absent"))
