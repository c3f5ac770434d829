"""`edge.benchmark`: times every artifact kind in one interleaved run and writes its reports."""

import csv
import os

import pytest

import keras_airn as ka
from keras_airn.export.onnx import export_onnx
from keras_airn.export.tflite import export
from edge.artifact_timing import benchmark, write_results
from keras_airn.data.features import FrontEnd
from tests.helpers import TINY

FRONT_END = FrontEnd(clip_seconds=1.28)


def test_benchmark_runs_all_kinds_and_writes_reports(tmp_path):
    tiny = dict(TINY, num_classes=5, num_frames=128)
    keras_path = str(tmp_path / "tiny.keras")
    ka.reparameterize(ka.create_model("b0", **tiny)).save(keras_path)
    wide_path = str(tmp_path / "wide" / "wide.keras")
    os.makedirs(os.path.dirname(wide_path))
    ka.reparameterize(ka.create_model("b0", **dict(tiny, stage_widths=(32, 64, 128, 256)))).save(wide_path)
    tflite = export(keras_path, str(tmp_path / "t"), ["fp32"], front_end=FRONT_END, num_eval=1)
    wide = export(wide_path, str(tmp_path / "w"), ["fp32"], front_end=FRONT_END, num_eval=1)
    onnx = export_onnx(keras_path, str(tmp_path / "o"), front_end=FRONT_END)
    paths = [str(tmp_path / "t" / tflite["artifacts"]["fp32"]["file"]),
             str(tmp_path / "w" / wide["artifacts"]["fp32"]["file"]),
             str(tmp_path / "o" / onnx["artifacts"]["fp32"]["file"]), keras_path]
    rows = benchmark(paths, threads=1, rounds=4, warmup=1)
    names = [r["artifact"] for r in rows]  # equal file names are told apart by their folder
    assert names == ["t/" + os.path.basename(paths[0]), "w/" + os.path.basename(paths[1])] + \
        [os.path.basename(p) for p in paths[2:]]
    assert all(row["median_ms"] > 0 and row["init_ms"] > 0 for row in rows)
    # Profiled from the .keras model, and for the exports from the model their reports name.
    assert rows[0]["macs"] == rows[2]["macs"] == rows[3]["macs"] > 0 and rows[3]["params"]
    # Each row is profiled from its own source model: 4x the widths is about 8x the MACs.
    assert rows[1]["macs"] > 5 * rows[0]["macs"]
    write_results(rows, str(tmp_path / "out"), "header")
    with open(tmp_path / "out" / "results.csv") as handle:
        written = list(csv.DictReader(handle))
    assert [r["artifact"] for r in written] == names
    for row, line in zip(rows, written):  # the report holds what was measured
        assert float(line["median_ms"]) == pytest.approx(row["median_ms"], rel=1e-3)
        assert float(line["ratio_to_first"]) == pytest.approx(row["ratio_to_first"], rel=1e-3)
    from keras_airn.machine import cpu_class

    assert {line["cpu_class"] for line in written} == {cpu_class()} and written[0]["isa"]
    assert (tmp_path / "out" / "results.md").read_text().startswith("header")
    assert (tmp_path / "out" / "latency.png").stat().st_size > 1000
    with pytest.raises(FileNotFoundError):
        benchmark([str(tmp_path / "missing.tflite")])
    # --recommend without clips: the agreement each conversion report measured (fp32: 1.0).
    from edge.recommend import recommend, reported_agreement

    agreement = {p: reported_agreement(p) for p in paths}
    assert agreement[paths[0]] == agreement[paths[2]] == 1.0 and agreement[paths[3]] is None
    assert recommend(rows, paths, agreement)["artifact"] in (names[0], names[1], names[2])
    # LiteRT's own tool times the same .tflite: its median lands beside ours.
    from edge.litert_tool import cross_check

    cross_check(rows, paths, threads=1, runs=5, warmup=1)
    assert rows[0]["litert_tool_median_ms"] > 0 and rows[0]["litert_tool_vs_this"] > 0
    assert "litert_tool_median_ms" not in rows[2]


def test_plots_name_networks_and_runtimes_and_draw_outliers_to_the_edge(tmp_path):
    from matplotlib import image

    from edge.artifact_timing import write_results
    from edge.latency_plot import artifact_kind

    assert artifact_kind("b1/airn_b1_deploy_spectrogram_fp32.tflite") == ("airn_b1", "LiteRT fp32")
    assert artifact_kind("bcresnet8_spectrogram_int8.onnx") == ("bcresnet8", "ORT int8")
    assert artifact_kind("b0_deploy.keras") == ("b0", "Keras fp32")
    rows = [{"artifact": f"{net}_spectrogram_{precision}.tflite", "median_ms": ms, "min_ms": ms * 0.9,
             "p90_ms": ms * 1.1, "macs": macs}
            for net, macs in (("airn_b0", 6.6e8), ("yamnet", 7.5e8))
            for precision, ms in (("fp32", 27.0), ("int8", 700.0))]
    write_results(rows, str(tmp_path / "two"), "header", machine="test machine")
    assert {"latency.png", "latency_vs_macs.png"} <= set(os.listdir(tmp_path / "two"))
    assert image.imread(str(tmp_path / "two" / "latency.png")).shape[0] > 200
    write_results(rows[:2], str(tmp_path / "one"), "header", machine="test machine")  # one network: bars only
    assert "latency_vs_macs.png" not in os.listdir(tmp_path / "one")


def test_stream_timing_times_one_window_per_hop_of_both_input_forms(tmp_path):
    import subprocess
    import sys

    keras_path = str(tmp_path / "tiny.keras")
    ka.reparameterize(ka.create_model("b0", **dict(TINY, num_classes=3))).save(keras_path)
    paths = []
    for waveform in (False, True):
        report = export(keras_path, str(tmp_path / str(waveform)), ["fp32"], waveform=waveform, front_end=FRONT_END,
                        num_eval=1)
        paths.append(str(tmp_path / str(waveform) / report["artifacts"]["fp32"]["file"]))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-m", "edge.benchmark", f"--artifacts={','.join(paths)}",
                             f"--out_dir={tmp_path / 'bench'}", "--stream_hops=0.25,1", "--rounds=3", "--warmup=1"],
                            cwd=root, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-2000:]
    with open(tmp_path / "bench" / "stream.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["input"], float(r["hop_seconds"])) for r in rows] == [
        ("spectrogram", 0.25), ("spectrogram", 1.0), ("waveform", 0.25), ("waveform", 1.0)]
    for row in rows:
        assert float(row["median_ms"]) > 0
        assert float(row["share_of_core"]) == pytest.approx(float(row["median_ms"]) / 1000 / float(row["hop_seconds"]),
                                                            rel=1e-3, abs=5e-7)  # written to 6 decimals
